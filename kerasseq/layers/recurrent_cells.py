"""Recurrent cells: leaky-integrator units and an Elman cell with a time-delay skip
connection, and the base class they share with the MUT1-3 cells (:mod:`kerasseq.layers.mut_cells`).

Each is a Keras RNN *cell* (the per-step math and its weights): run it over time with
``keras.layers.RNN(cell)``, which brings masking, ``go_backwards``, ``Bidirectional``,
stacking (``keras.layers.StackedRNNCells``), ``stateful=True`` and serialization. Dropout
follows Keras' own cells: one input mask and one recurrent mask drawn per batch and reused at
every step (variational dropout, Gal & Ghahramani 2016), applied in training only.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell


class _RecurrentCell(keras.layers.Layer, DropoutRNNCell):
    """Arguments, weights, dropout and config shared by the cells of this module.

    ``state_size`` is ``units`` (a subclass may change it); ``get_config`` returns the shared
    constructor arguments, to which a subclass adds its own.
    """

    def __init__(self, units, *, use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(
                f"Expected `units` to be a positive integer. Received: units={units!r}")
        for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"Expected 0 <= {name} < 1. Received: {name}={rate!r}")
        super().__init__(**kwargs)
        self.units = units
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.state_size = units
        self.output_size = units

    def _add(self, name, shape, kind):
        """A weight with the initializer/regularizer/constraint of ``kind``
        (``"kernel"``: input matrices, ``"recurrent"``: hidden-state matrices, ``"bias"``)."""
        return self.add_weight(shape=shape, name=name,
                               initializer=getattr(self, f"{kind}_initializer"),
                               regularizer=getattr(self, f"{kind}_regularizer"),
                               constraint=getattr(self, f"{kind}_constraint"))

    def _bias_blocks(self, count):
        """The ``count`` blocks of ``units`` of the bias, or zeros without one."""
        if not self.use_bias:
            return [0.0] * count
        return ops.split(self.bias, count, axis=-1) if count > 1 else [self.bias]

    def _apply_dropout(self, inputs, hidden, training):
        """Inputs and hidden states ``(batch, units)`` (a list of them) times the masks of
        this batch, in training only.

        ``keras.layers.RNN`` draws both masks before the time loop, from the first step's
        inputs and the first state tensor, and they stay the same at every step."""
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and self.recurrent_dropout > 0:
            hidden = keras.tree.map_structure(
                lambda h: h * self.get_recurrent_dropout_mask(h), hidden)
        return inputs, hidden

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype)
                for size in keras.tree.flatten(self.state_size)]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": keras.regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": keras.constraints.serialize(self.recurrent_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }


def _unpack(states):
    """The single state tensor, and how to wrap a new one as ``states`` was wrapped."""
    if keras.tree.is_nested(states):
        return states[0], lambda new: [new]
    return states, lambda new: new


@keras.saving.register_keras_serializable(package="kerasseq")
class LeakyUnitCell(_RecurrentCell):
    """Leaky-integrator units, each with its own time constant.

    Every unit low-pass filters an Elman update with a time constant ``τ_i >= 1``:

        h_{t+1} = (1 - 1/τ) ⊙ h_t + (1/τ) ⊙ tanh(W_xh x_t + W_hh h_t + b)

    ``τ = 1`` is a plain Elman unit (``keras.layers.SimpleRNNCell``); a unit with large ``τ``
    changes slowly and remembers over about ``τ`` steps, which shortens the paths gradients
    travel through time (Mozer 1992; Jaeger et al. 2007; Bengio et al. 2013).

    The time constants start log-spaced from ``tau_min`` (the first unit) to ``tau_max`` (the
    last), so some units are fast and some slow. With ``learn_tau=True`` they are trained
    through ``τ = 1 + softplus(tau_raw)``, which keeps ``τ >= 1``; softplus never reaches 0,
    so a learned ``τ`` starts at ``max(τ, 1 + 1e-3)``. With ``learn_tau=False`` the
    non-trainable weight ``tau`` holds ``τ`` itself (``τ = 1`` exactly is possible).
    :meth:`time_constants` returns the current ``τ``.

    Weights: ``kernel`` ``(input_dim, units)`` = W_xh, ``recurrent_kernel`` ``(units,
    units)`` = W_hh, ``bias`` ``(units,)`` = b, and ``tau_raw`` or ``tau`` ``(units,)``.
    Called by ``keras.layers.RNN`` on ``(batch, time, features)``: step input ``(batch,
    features)``, state and output ``(batch, units)``. Dropout acts on ``x_t`` and on the
    ``h_t`` inside the tanh, not on the leaked ``h_t``.

    Args:
        units: number of units (size of the state and of the output).
        tau_min: smallest initial time constant, ``>= 1``.
        tau_max: largest initial time constant, ``>= tau_min``.
        learn_tau: train the time constants (else they stay fixed).
        activation: activation of the update (``tanh`` in the formula).
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
            kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
            recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed: as in
            ``keras.layers.SimpleRNNCell`` ("kernel": the input matrices, "recurrent": the
            hidden-state matrices; rates in ``[0, 1)``).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:
    >>> cell = LeakyUnitCell(32, tau_min=1.0, tau_max=100.0)
    >>> y = keras.layers.RNN(cell, return_sequences=True)(x)  # (batch, time, 32)
    >>> cell.time_constants()                                 # (32,) from 1.001 to 100

    References:
        Mozer 1992, "Induction of multiscale temporal structure", NIPS.
        Jaeger, Lukoševičius, Popovici & Siewert 2007, "Optimization and applications of
        echo state networks with leaky-integrator neurons", Neural Networks.
        Bengio, Boulanger-Lewandowski & Pascanu 2013, "Advances in optimizing recurrent
        networks", ICASSP.
        Goodfellow, Bengio & Courville 2016, "Deep Learning", section 10.9.2 (leaky units).
    """

    def __init__(self, units, tau_min=1.0, tau_max=100.0, learn_tau=True, activation="tanh",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        if not tau_min >= 1.0:
            raise ValueError(f"Expected tau_min >= 1 (a unit cannot forget faster than one step). "
                             f"Received: tau_min={tau_min!r}")
        if not tau_max >= tau_min:
            raise ValueError(f"Expected tau_max >= tau_min. Received: tau_min={tau_min!r}, "
                             f"tau_max={tau_max!r}")
        super().__init__(
            units, use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed, **kwargs)
        self.tau_min = float(tau_min)
        self.tau_max = float(tau_max)
        self.learn_tau = learn_tau
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.kernel = self._add("kernel", (input_shape[-1], self.units), "kernel")
        self.recurrent_kernel = self._add("recurrent_kernel", (self.units, self.units), "recurrent")
        self.bias = self._add("bias", (self.units,), "bias") if self.use_bias else None
        tau = np.geomspace(self.tau_min, self.tau_max, self.units)  # (units,)
        if self.learn_tau:
            # Inverse of softplus, y + log(1 - exp(-y)), stable for y up to tau_max - 1.
            y = np.maximum(tau - 1.0, 1e-3)
            self.tau_raw = self.add_weight(shape=(self.units,), name="tau_raw",
                                           initializer=_constant(y + np.log(-np.expm1(-y))))
        else:
            self.tau = self.add_weight(shape=(self.units,), name="tau", initializer=_constant(tau),
                                       trainable=False)

    def time_constants(self):
        """The time constants ``τ`` of the units, a ``(units,)`` tensor (after ``build``)."""
        if self.learn_tau:
            return 1.0 + ops.softplus(self.tau_raw)
        return ops.convert_to_tensor(self.tau)

    def call(self, inputs, states, training=False):
        h, wrap = _unpack(states)  # (batch, units)
        x, h_dropped = self._apply_dropout(inputs, h, training)
        update = ops.matmul(x, self.kernel) + ops.matmul(h_dropped, self.recurrent_kernel)
        if self.use_bias:
            update = update + self.bias
        if self.activation is not None:
            update = self.activation(update)
        leak = 1.0 / self.time_constants()  # (units,)
        # (1 - leak) * h + leak * update, not h + leak * (update - h): τ = 1 is then exactly
        # SimpleRNN.
        h_new = (1.0 - leak) * h + leak * update  # (batch, units)
        return h_new, wrap(h_new)

    def get_config(self):
        return {**super().get_config(), "tau_min": self.tau_min, "tau_max": self.tau_max,
                "learn_tau": self.learn_tau,
                "activation": keras.activations.serialize(self.activation)}


def _constant(values):
    """An initializer returning ``values`` (computed once in ``build``)."""
    def initializer(shape, dtype=None):
        return ops.convert_to_tensor(np.reshape(values, shape), dtype=dtype)
    return initializer


@keras.saving.register_keras_serializable(package="kerasseq")
class TimeDelayCell(_RecurrentCell):
    """An Elman cell with a time-delay skip connection from ``delay`` steps back.

        h_t = tanh(W_xh x_t + W_hh h_{t-1} + W_hd h_{t-D} + b),   D = ``delay``

    A gradient through ``T`` steps of an Elman network is a product of ``T`` Jacobians and
    shrinks like ``O(λ^T)``; the delayed connection gives a path of only ``T / D`` steps, so
    it shrinks like ``O(λ^{T/D})`` and long-term dependencies stay learnable (Lin et al.
    1996; El Hihi & Bengio 1996).
    With ``delay=1`` both matrices act on ``h_{t-1}``: the plain Elman recurrence with a
    second recurrent matrix, the same function class as ``SimpleRNNCell``.

    The state holds the last ``D`` hidden states in two plain tensors (``state_size`` is
    ``[units, (delay - 1) * units]``, just ``[units]`` when ``delay=1``):

    - ``h_{t-1}`` ``(batch, units)``, the previous output. Keras expects a cell's first
      state to be its previous output: the JAX backend's masking outputs it at masked steps.
    - ``[h_{t-D}, ..., h_{t-2}]`` ``(batch, (delay - 1) * units)``, a shift buffer, oldest
      first: each step drops ``h_{t-D}`` and appends ``h_{t-1}``.

    Together, ``concat([older, h_{t-1}])`` is ``[h_{t-D}, ..., h_{t-1}]``. States before the
    sequence start are zeros. As plain states they work with ``stateful``, ``Bidirectional``
    and masking through ``keras.layers.RNN`` (a masked step leaves them unchanged, so delays
    count real steps). The output is ``h_t`` ``(batch, units)``.

    Weights: ``kernel`` ``(input_dim, units)`` = W_xh, ``recurrent_kernel`` ``(units,
    units)`` = W_hh, ``delay_kernel`` ``(units, units)`` = W_hd (initialised, regularised and
    constrained like ``recurrent_kernel``), ``bias`` ``(units,)`` = b. Recurrent dropout
    multiplies ``h_{t-1}`` and ``h_{t-D}`` by the same mask.

    Args:
        units: number of units (size of the output; the states hold ``delay * units``).
        delay: the delay ``D >= 1`` of the skip connection, in steps.
        activation: activation of the update (``tanh`` in the formula).
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
            kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
            recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed: as in
            ``keras.layers.SimpleRNNCell`` ("kernel": the input matrices, "recurrent": the
            hidden-state matrices; rates in ``[0, 1)``).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:
    >>> rnn = keras.layers.RNN(TimeDelayCell(32, delay=4), return_sequences=True,
    ...                        return_state=True)
    >>> y, h, older = rnn(x)  # (batch, time, 32), (batch, 32), (batch, 3 * 32)

    References:
        Lin, Horne, Tiňo & Giles 1996, "Learning long-term dependencies in NARX recurrent
        neural networks", IEEE Transactions on Neural Networks.
        El Hihi & Bengio 1996, "Hierarchical recurrent neural networks for long-term
        dependencies", NIPS.
        Goodfellow, Bengio & Courville 2016, "Deep Learning", section 10.9.1 (skip
        connections through time).
    """

    def __init__(self, units, delay=2, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 1:
            raise ValueError(f"Expected `delay` to be an integer >= 1. Received: delay={delay!r}")
        super().__init__(
            units, use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed, **kwargs)
        self.delay = delay
        self.activation = keras.activations.get(activation)
        self.state_size = [units] if delay == 1 else [units, (delay - 1) * units]

    def build(self, input_shape):
        self.kernel = self._add("kernel", (input_shape[-1], self.units), "kernel")
        self.recurrent_kernel = self._add("recurrent_kernel", (self.units, self.units), "recurrent")
        self.delay_kernel = self._add("delay_kernel", (self.units, self.units), "recurrent")
        self.bias = self._add("bias", (self.units,), "bias") if self.use_bias else None

    def call(self, inputs, states, training=False):
        states = states if keras.tree.is_nested(states) else [states]
        h_prev = states[0]  # (batch, units) h_{t-1}
        # (batch, (delay - 1) * units) [h_{t-D}, ..., h_{t-2}]
        older = states[1] if self.delay > 1 else None
        h_delayed = h_prev if older is None else older[:, :self.units]  # (batch, units) h_{t-D}
        x, (h_prev_in, h_delayed_in) = self._apply_dropout(inputs, [h_prev, h_delayed], training)
        h = (ops.matmul(x, self.kernel) + ops.matmul(h_prev_in, self.recurrent_kernel)
             + ops.matmul(h_delayed_in, self.delay_kernel))  # (batch, units)
        if self.use_bias:
            h = h + self.bias
        if self.activation is not None:
            h = self.activation(h)
        if self.delay == 1:
            return h, [h]
        older = h_prev if self.delay == 2 else ops.concatenate([older[:, self.units:], h_prev], -1)
        return h, [h, older]

    def get_config(self):
        return {**super().get_config(), "delay": self.delay,
                "activation": keras.activations.serialize(self.activation)}
