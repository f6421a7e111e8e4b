"""Graves' soft window over a character sequence (Graves 2013, section 5.1) and the first
LSTM layer of his handwriting synthesis network that computes it (backend-agnostic)."""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.layers.derivative_clipping import DerivativeClippedLSTMCell


def one_hot_characters(characters, vocabulary_size: int):
    """float32 ``(batch, U, V)`` one-hot rows of int ids ``(batch, U)``; id 0 (padding) gives
    an all-zero row, so padding adds nothing to the window vector."""
    characters = ops.cast(characters, "int32")
    valid = ops.cast(ops.greater(characters, 0), "float32")[..., None]
    return ops.one_hot(characters, vocabulary_size, dtype="float32") * valid


@keras.saving.register_keras_serializable(package="kerasseq")
class SoftWindow(keras.layers.Layer):
    """Graves' soft window: a mixture of ``K`` Gaussian bumps over the character positions,
    whose centres only move forward (Graves 2013, eqs. 46-51).

    From a hidden state ``h`` (Graves: the first LSTM layer's), ``(α̂, β̂, κ̂) = W h + b``
    (three dense maps of ``K`` outputs), ``α = exp(α̂)``, ``β = exp(β̂)``,
    ``κ = κ_prev + exp(κ̂)``, then the window weights and the window vector::

        φ(u) = Σₖ αₖ exp(−βₖ (κₖ − u)²),   u = 1 .. U
        w    = Σᵤ φ(u) c_u

    where ``c_u`` is character ``u``'s one-hot vector (all-zero rows for padding).

    Shapes: inputs ``[hidden (batch, H), previous_kappa (batch, K), characters (batch, U, V)]``
    (``characters`` float one-hot, :func:`one_hot_characters`); outputs
    ``[window (batch, V), kappa (batch, K), phi (batch, U)]``.

    Args:
        num_components: ``K``, the window's Gaussians (Graves: 10).
        kappa_bias_init: initial bias of ``κ̂``: the window first moves ``exp(kappa_bias_init)``
            characters per step (−3: one character per 20 pen points, about IAM-OnDB's rate).
            Graves does not give his initialisation.
        kernel_initializer: of the three dense maps.
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``).

    Example:
    >>> window = SoftWindow(10)
    >>> w, kappa, phi = window([h, kappa, one_hot_characters(ids, 80)])  # (B, 80), (B, 10), (B, U)

    References:
        Graves 2013, "Generating sequences with recurrent neural networks", arXiv:1308.0850,
        section 5.1.
    """

    def __init__(self, num_components=10, kappa_bias_init=-3.0, kernel_initializer="glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        if int(num_components) < 1:
            raise ValueError(f"Expected num_components >= 1. Received: num_components={num_components}")
        self.num_components = int(num_components)
        self.kappa_bias_init = float(kappa_bias_init)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        hidden_shape = input_shape[0]
        dense = lambda name, bias: keras.layers.Dense(  # noqa: E731
            self.num_components, kernel_initializer=self.kernel_initializer,
            bias_initializer=keras.initializers.Constant(bias), dtype=self.dtype_policy, name=name)
        self.alpha_dense = dense("alpha", 0.0)
        self.beta_dense = dense("beta", 0.0)
        self.kappa_dense = dense("kappa", self.kappa_bias_init)
        for layer in (self.alpha_dense, self.beta_dense, self.kappa_dense):
            layer.build(hidden_shape)

    def call(self, inputs):
        hidden, previous_kappa, characters = inputs
        alpha = ops.exp(self.alpha_dense(hidden))  # (batch, K)
        beta = ops.exp(self.beta_dense(hidden))  # (batch, K)
        kappa = ops.cast(previous_kappa, alpha.dtype) + ops.exp(self.kappa_dense(hidden))  # (batch, K)
        characters = ops.cast(characters, alpha.dtype)
        positions = ops.cast(ops.arange(1, ops.shape(characters)[1] + 1), alpha.dtype)  # (U,)
        phi = window_weights(alpha, beta, kappa, positions)  # (batch, U)
        window = ops.einsum("bu,buv->bv", phi, characters)  # (batch, V)
        return [window, kappa, phi]

    def weights_at(self, hidden, kappa, length):
        """φ ``(..., U)`` of hidden states ``(..., H)`` and the ``κ`` ``(..., K)`` they
        produced, at positions ``1 .. length`` (the window weights of any number of steps)."""
        alpha = ops.exp(self.alpha_dense(hidden))[..., :, None]  # (..., K, 1)
        beta = ops.exp(self.beta_dense(hidden))[..., :, None]
        positions = ops.cast(ops.arange(1, length + 1), alpha.dtype)  # (U,)
        distance = ops.cast(kappa, alpha.dtype)[..., :, None] - positions  # (..., K, U)
        return ops.sum(alpha * ops.exp(-beta * distance ** 2), axis=-2)

    def compute_output_shape(self, input_shape):
        hidden, _, characters = input_shape
        return [(hidden[0], characters[-1]), (hidden[0], self.num_components),
                (hidden[0], characters[1])]

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components,
                "kappa_bias_init": self.kappa_bias_init,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


def window_weights(alpha, beta, kappa, positions):
    """Graves' eq. 46: ``φ(u) = Σₖ αₖ exp(−βₖ (κₖ − u)²)`` for ``alpha, beta, kappa``
    ``(batch, K)`` at ``positions`` ``(U,)`` -> ``(batch, U)``."""
    distance = kappa[:, :, None] - positions[None, None, :]  # (batch, K, U)
    return ops.sum(alpha[:, :, None] * ops.exp(-beta[:, :, None] * distance ** 2), axis=1)


@keras.saving.register_keras_serializable(package="kerasseq")
class SoftWindowLSTM(keras.layers.Layer):
    """The first layer of Graves' synthesis network (Graves 2013, Figure 12, eq. 52): an LSTM
    that reads each pen point with the previous window vector, and a :class:`SoftWindow` that
    reads the LSTM's new hidden state over the text.

    One step: ``h_t = LSTM([x_t, w_{t−1}], h_{t−1})``, then ``(w_t, κ_t, φ_t) =
    SoftWindow(h_t, κ_{t−1}, c)``. The window couples the LSTM to itself through ``w``, so the
    layer runs the pair with one ``keras.ops.scan`` over time; the layers above it read
    ``h_t`` and ``w_t`` as whole sequences (plain Keras LSTMs). :meth:`step` is the same step
    for a sampling loop. Right-padded strokes need no mask (every step is causal).

    Shapes: inputs ``[strokes (batch, T, D), characters (batch, U)]`` int ids, 0 = padding;
    outputs ``[hidden (batch, T, units), window (batch, T, V), phi (batch, T, U)]``.

    Args:
        units: LSTM width (Graves: 400).
        vocabulary_size: ``V``: character ids are ``1 .. V − 1``.
        num_components: the window's ``K`` (Graves: 10).
        kappa_bias_init: :class:`SoftWindow`'s.
        derivative_clip: clip the loss derivatives with respect to the LSTM's gate inputs to
            ``±`` this at every step (Graves: 10; :class:`kerasseq.layers.DerivativeClippedLSTMCell`);
            ``None``: a plain ``keras.layers.LSTMCell``.
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``).

    Example:
    >>> layer = SoftWindowLSTM(400, vocabulary_size=80, num_components=10)
    >>> h, w, phi = layer([strokes, characters])  # (B, T, 400), (B, T, 80), (B, T, U)

    References:
        Graves 2013, "Generating sequences with recurrent neural networks", arXiv:1308.0850,
        section 5.1, Figure 12.
    """

    def __init__(self, units, vocabulary_size, num_components=10, kappa_bias_init=-3.0,
                 derivative_clip=None, **kwargs):
        super().__init__(**kwargs)
        for name, value, low in (("units", units, 1), ("vocabulary_size", vocabulary_size, 2)):
            if int(value) != value or value < low:
                raise ValueError(f"Expected {name} to be an integer >= {low}. Received: {name}={value!r}")
        self.units = int(units)
        self.vocabulary_size = int(vocabulary_size)
        self.num_components = int(num_components)
        self.kappa_bias_init = float(kappa_bias_init)
        self.derivative_clip = float(derivative_clip) if derivative_clip else None

    def build(self, input_shape):
        strokes_shape, _ = input_shape
        if self.derivative_clip:
            self.cell = DerivativeClippedLSTMCell(self.units, self.derivative_clip,
                                                  dtype=self.dtype_policy, name="lstm_cell")
        else:
            self.cell = keras.layers.LSTMCell(self.units, dtype=self.dtype_policy, name="lstm_cell")
        self.cell.build((strokes_shape[0], strokes_shape[-1] + self.vocabulary_size))
        self.window = SoftWindow(self.num_components, self.kappa_bias_init, dtype=self.dtype_policy,
                                 name="soft_window")
        self.window.build([(strokes_shape[0], self.units), (strokes_shape[0], self.num_components),
                           (strokes_shape[0], None, self.vocabulary_size)])

    def initial_state(self, batch_size):
        """``[h, c, kappa, window]`` zeros for ``batch_size`` lines."""
        dtype = self.compute_dtype
        return [ops.zeros((batch_size, self.units), dtype), ops.zeros((batch_size, self.units), dtype),
                ops.zeros((batch_size, self.num_components), dtype),
                ops.zeros((batch_size, self.vocabulary_size), dtype)]

    def step(self, x, states, characters, training=False):
        """One step: ``x (batch, D)``, ``states`` of :meth:`initial_state`, ``characters``
        one-hot ``(batch, U, V)`` -> ``(h, window, phi, new_states)``."""
        h, c, kappa, window = states
        inputs = ops.concatenate([ops.cast(x, window.dtype), window], axis=-1)  # (batch, D + V)
        h, (h, c) = self.cell(inputs, [h, c], training=training)
        window, kappa, phi = self.window([h, kappa, characters])
        return h, window, phi, [h, c, kappa, window]

    def call(self, inputs, training=False):
        strokes, characters = inputs
        characters = one_hot_characters(characters, self.vocabulary_size)  # (batch, U, V)
        strokes = ops.cast(strokes, self.compute_dtype)

        def body(states, x):
            _, _, _, states = self.step(x, states, characters, training)
            return states, states  # (Keras' TensorFlow scan wants outputs shaped as the carry)

        _, (h, _, kappa, window) = ops.scan(body, self.initial_state(ops.shape(strokes)[0]),
                                            ops.transpose(strokes, (1, 0, 2)))
        h, kappa, window = (ops.transpose(t, (1, 0, 2)) for t in (h, kappa, window))
        # φ again, for all steps at once (only computed where an output needs it).
        return [h, window, self.window.weights_at(h, kappa, ops.shape(characters)[1])]

    def compute_output_shape(self, input_shape):
        strokes, characters = input_shape
        batch, time = strokes[0], strokes[1]
        return [(batch, time, self.units), (batch, time, self.vocabulary_size),
                (batch, time, characters[1])]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "vocabulary_size": self.vocabulary_size,
                "num_components": self.num_components, "kappa_bias_init": self.kappa_bias_init,
                "derivative_clip": self.derivative_clip}
