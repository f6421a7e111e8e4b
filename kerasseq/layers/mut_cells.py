"""The MUT1, MUT2 and MUT3 cells of Jozefowicz, Zaremba & Sutskever (2015), the GRU-like
cells their architecture search ranked best, as Keras RNN cells (see
:mod:`kerasseq.layers.recurrent_cells` for what running a cell with ``keras.layers.RNN``
brings, and for their dropout)."""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.layers.recurrent_cells import _RecurrentCell, _unpack


class _MUTCell(_RecurrentCell):
    """MUT1-3: GRU-like cells that an architecture search found (Jozefowicz et al. 2015).

    Subclasses set ``_input_blocks`` / ``_recurrent_blocks`` (how many ``units``-wide blocks
    ``kernel`` and ``recurrent_kernel`` have) and ``_needs_units_inputs`` and implement
    ``_step(x, h, h_dropped)``."""

    _input_blocks = 0
    _recurrent_blocks = 0
    _needs_units_inputs = False

    def __init__(self, units, use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(
            units, use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed, **kwargs)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if self._needs_units_inputs and input_dim != self.units:
            raise ValueError(
                f"Expected inputs with `units`={self.units} features: {type(self).__name__} adds "
                f"its inputs to vectors of `units` values (the paper feeds embeddings of width "
                f"`units`). Received: input_shape={tuple(input_shape)}")
        self.kernel = self._add("kernel", (input_dim, self._input_blocks * self.units), "kernel")
        self.recurrent_kernel = self._add(
            "recurrent_kernel", (self.units, self._recurrent_blocks * self.units), "recurrent")
        self.bias = self._add("bias", (3 * self.units,), "bias") if self.use_bias else None

    def call(self, inputs, states, training=False):
        h, wrap = _unpack(states)  # (batch, units)
        x, h_dropped = self._apply_dropout(inputs, h, training)
        z, candidate = self._step(x, h, h_dropped)  # (batch, units) each
        h_new = candidate * z + h * (1.0 - z)
        return h_new, wrap(h_new)


@keras.saving.register_keras_serializable(package="kerasseq")
class MUT1Cell(_MUTCell):
    """MUT1, the first of the three best GRU-like cells of an architecture search.

        z = σ(W_xz x_t + b_z)
        r = σ(W_xr x_t + W_hr h_t + b_r)
        h_{t+1} = tanh(W_hh (r ⊙ h_t) + tanh(x_t) + b_h) ⊙ z + h_t ⊙ (1 - z)

    The update gate ``z`` sees only the input, and the input enters the candidate through
    ``tanh(x_t)`` with no matrix, so the inputs must have ``units`` features (the paper feeds
    embeddings of width ``units``); ``build`` raises ``ValueError`` otherwise.

    Weights: ``kernel`` ``(units, 2 * units)`` = [W_xz | W_xr], ``recurrent_kernel``
    ``(units, 2 * units)`` = [W_hr | W_hh], ``bias`` ``(3 * units,)`` = [b_z | b_r | b_h].
    Called by ``keras.layers.RNN`` on ``(batch, time, units)``: state and output ``(batch,
    units)``. Dropout acts on ``x_t`` wherever it enters and on the ``h_t`` inside the gates
    and the candidate, not on the carried ``h_t ⊙ (1 - z)``.

    Args:
        units: number of units (and of input features).
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
            kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
            recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed: as in
            ``keras.layers.SimpleRNNCell`` ("kernel": the input matrices, "recurrent": the
            hidden-state matrices; rates in ``[0, 1)``).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:
    >>> x = keras.layers.Embedding(10000, 64)(tokens)               # (batch, time, 64)
    >>> y = keras.layers.RNN(MUT1Cell(64), return_sequences=True)(x)  # (batch, time, 64)

    References:
        Jozefowicz, Zaremba & Sutskever 2015, "An empirical exploration of recurrent network
        architectures", ICML.
    """

    _input_blocks = 2
    _recurrent_blocks = 2
    _needs_units_inputs = True

    def _step(self, x, h, h_dropped):
        x_z, x_r = ops.split(ops.matmul(x, self.kernel), 2, axis=-1)
        w_hr, w_hh = ops.split(self.recurrent_kernel, 2, axis=-1)
        b_z, b_r, b_h = self._bias_blocks(3)
        z = ops.sigmoid(x_z + b_z)
        r = ops.sigmoid(x_r + ops.matmul(h_dropped, w_hr) + b_r)
        return z, ops.tanh(ops.matmul(r * h_dropped, w_hh) + ops.tanh(x) + b_h)


@keras.saving.register_keras_serializable(package="kerasseq")
class MUT2Cell(_MUTCell):
    """MUT2, the second of the three best GRU-like cells of an architecture search.

        z = σ(W_xz x_t + W_hz h_t + b_z)
        r = σ(x_t + W_hr h_t + b_r)
        h_{t+1} = tanh(W_hh (r ⊙ h_t) + W_xh x_t + b_h) ⊙ z + h_t ⊙ (1 - z)

    The input enters the reset gate with no matrix, so the inputs must have ``units``
    features (the paper feeds embeddings of width ``units``); ``build`` raises ``ValueError``
    otherwise.

    Weights: ``kernel`` ``(units, 2 * units)`` = [W_xz | W_xh], ``recurrent_kernel``
    ``(units, 3 * units)`` = [W_hz | W_hr | W_hh], ``bias`` ``(3 * units,)`` = [b_z | b_r |
    b_h]. Called by ``keras.layers.RNN`` on ``(batch, time, units)``: state and output
    ``(batch, units)``. Dropout acts on ``x_t`` wherever it enters and on the ``h_t`` inside
    the gates and the candidate, not on the carried ``h_t ⊙ (1 - z)``.

    Args: as :class:`MUT1Cell`.

    Example:
    >>> x = keras.layers.Embedding(10000, 64)(tokens)               # (batch, time, 64)
    >>> y = keras.layers.RNN(MUT2Cell(64), return_sequences=True)(x)  # (batch, time, 64)

    Reference: as :class:`MUT1Cell`.
    """

    _input_blocks = 2
    _recurrent_blocks = 3
    _needs_units_inputs = True

    def _step(self, x, h, h_dropped):
        x_z, x_h = ops.split(ops.matmul(x, self.kernel), 2, axis=-1)
        w_hz, w_hr, w_hh = ops.split(self.recurrent_kernel, 3, axis=-1)
        b_z, b_r, b_h = self._bias_blocks(3)
        z = ops.sigmoid(x_z + ops.matmul(h_dropped, w_hz) + b_z)
        r = ops.sigmoid(x + ops.matmul(h_dropped, w_hr) + b_r)
        return z, ops.tanh(ops.matmul(r * h_dropped, w_hh) + x_h + b_h)


@keras.saving.register_keras_serializable(package="kerasseq")
class MUT3Cell(_MUTCell):
    """MUT3, the third of the three best GRU-like cells of an architecture search.

        z = σ(W_xz x_t + W_hz tanh(h_t) + b_z)
        r = σ(W_xr x_t + W_hr h_t + b_r)
        h_{t+1} = tanh(W_hh (r ⊙ h_t) + W_xh x_t + b_h) ⊙ z + h_t ⊙ (1 - z)

    Any input width works.

    Weights: ``kernel`` ``(input_dim, 3 * units)`` = [W_xz | W_xr | W_xh],
    ``recurrent_kernel`` ``(units, 3 * units)`` = [W_hz | W_hr | W_hh], ``bias`` ``(3 *
    units,)`` = [b_z | b_r | b_h]. Called by ``keras.layers.RNN`` on ``(batch, time,
    features)``: state and output ``(batch, units)``. Dropout acts on ``x_t`` and on the
    ``h_t`` inside the gates and the candidate, not on the carried ``h_t ⊙ (1 - z)``.

    Args: as :class:`MUT1Cell` (any input width).

    Example:
    >>> y = keras.layers.RNN(MUT3Cell(64), return_sequences=True)(x)  # (batch, time, 64)

    Reference: as :class:`MUT1Cell`.
    """

    _input_blocks = 3
    _recurrent_blocks = 3

    def _step(self, x, h, h_dropped):
        x_z, x_r, x_h = ops.split(ops.matmul(x, self.kernel), 3, axis=-1)
        w_hz, w_hr, w_hh = ops.split(self.recurrent_kernel, 3, axis=-1)
        b_z, b_r, b_h = self._bias_blocks(3)
        z = ops.sigmoid(x_z + ops.matmul(ops.tanh(h_dropped), w_hz) + b_z)
        r = ops.sigmoid(x_r + ops.matmul(h_dropped, w_hr) + b_r)
        return z, ops.tanh(ops.matmul(r * h_dropped, w_hh) + x_h + b_h)
