"""A ConvLSTM layer equal to ``keras.layers.ConvLSTM2D`` (``padding="same"``) with the input
convolution of all frames taken at once, before the time loop, and a zero-input mode for the
forecaster of Shi et al.'s encoding-forecasting network.
"""

from __future__ import annotations

import numbers

import keras
from keras import ops

MAX_UNROLLED_FRAMES = 32  # ``unroll=None`` unrolls up to this many frames, else scans


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"Expected {name} to be a positive integer. Received: {name}={value!r}")
    return int(value)


@keras.saving.register_keras_serializable(package="kerasseq")
class ConvLSTM(keras.layers.Layer):
    """Convolutional LSTM over a sequence of frames: ``keras.layers.ConvLSTM2D``'s math,
    weights and initializers ("same" padding, strides 1), the input convolutions out of the loop.

    For frames ``X_t`` and ``*`` a 2-D "same" convolution (Shi et al.'s equations (3), without
    the peephole terms, as Keras), with the gates in Keras' order i, f, c, o:

        i_t = σ(W_xi * X_t + W_hi * H_{t-1} + b_i)
        f_t = σ(W_xf * X_t + W_hf * H_{t-1} + b_f)
        C_t = f_t ∘ C_{t-1} + i_t ∘ tanh(W_xc * X_t + W_hc * H_{t-1} + b_c)
        o_t = σ(W_xo * X_t + W_ho * H_{t-1} + b_o)
        H_t = o_t ∘ tanh(C_t)

    ``kernel`` ``(k, k, channels, 4·filters)`` holds the four ``W_x·``, ``recurrent_kernel``
    ``(k, k, filters, 4·filters)`` the four ``W_h·`` and ``bias`` ``(4·filters,)`` the four
    ``b``, exactly as ``ConvLSTM2D`` (same shapes, order and default initializers, the forget
    bias starting at 1), so ``set_weights(conv_lstm_2d.get_weights())`` gives the same outputs.

    Why not ``ConvLSTM2D``: Keras' cell convolves each frame's input inside the time loop (a
    ``while`` loop), eight convolutions a step (four gates, input and hidden state). Here
    ``W_x * X_t + b`` is one convolution of all ``batch · time`` frames before the loop, and
    each step adds one convolution of ``H`` with the whole recurrent kernel. The loop is
    unrolled in Python (XLA sees one graph, as ``torch.compile`` does) or a
    ``keras.ops.scan``. With ``zero_inputs=True`` (the forecaster of Shi et al., which sees no
    observations: its input is ``EmptyFrames``) the input values are never read and the input
    convolution is skipped: its contribution is the bias alone.
    It is a layer, not a ``keras.layers.RNN`` cell, because hoisting the input convolution out
    of the loop needs the whole sequence; there is no masking, dropout, ``stateful`` or
    ``go_backwards`` (use ``ConvLSTM2D`` for those).

    Shapes: inputs ``(batch, time, height, width, channels)`` (channels last; height, width and
    channels static); output ``(batch, time, height, width, filters)`` with
    ``return_sequences``, else ``(batch, height, width, filters)`` (the last ``H``); with
    ``return_state`` the tuple ``(output, H_T, C_T)``, each state
    ``(batch, height, width, filters)``.

    Args:
        filters: the channels of ``H`` and ``C``.
        kernel_size: the convolution window, an integer or ``(height, width)``; the input and
            recurrent convolutions share it.
        return_sequences: return ``H_t`` for every frame (default: the last only, as Keras).
        return_state: also return the last hidden and cell states ``H_T`` and ``C_T``.
        zero_inputs: the inputs are all-zero frames (e.g. ``EmptyFrames``'s output): only their
            shape (batch, time, size and channels, which set ``kernel``'s shape) is used, the
            input convolution is skipped and ``kernel`` gets the zero gradient ``ConvLSTM2D``
            gives it on zero frames. Non-zero inputs would be ignored, so use it only on frames
            that are zero by construction.
        unroll: ``True``: a Python loop over the frames (needs a static number of frames);
            ``False``: ``keras.ops.scan``; ``None`` (default): unrolled when the number of
            frames is static and at most 32, else scanned.
        kernel_initializer: initializer of ``kernel`` (Keras' default, Glorot uniform).
        recurrent_initializer: initializer of ``recurrent_kernel`` (orthogonal).
        bias_initializer: initializer of ``bias`` (zeros).
        unit_forget_bias: add 1 to the forget gate's bias at initialization (as Keras; the
            forget block then starts at ones whatever ``bias_initializer`` is).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: the frames ``(batch, time, height, width, channels)``.
        initial_state: ``[H_0, C_0]``, each ``(batch, height, width, filters)``; zeros when
            omitted.

    Example:
    >>> layer = ConvLSTM(4, 3, return_sequences=True)
    >>> layer(np.zeros((2, 5, 8, 8, 3), "float32")).shape
    (2, 5, 8, 8, 4)
    >>> keras_layer = keras.layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True)
    >>> keras_layer.build((2, 5, 8, 8, 3))
    >>> keras_layer.set_weights(layer.get_weights())  # now both compute the same

    References:
        Shi, Chen, Wang, Yeung, Wong and Woo 2015, "Convolutional LSTM network: a machine
        learning approach for precipitation nowcasting", NIPS.
    """

    def __init__(self, filters: int, kernel_size, return_sequences: bool = False,
                 return_state: bool = False, zero_inputs: bool = False, unroll: bool | None = None,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.filters = _positive_int(filters, "filters")
        sizes = tuple(kernel_size) if isinstance(kernel_size, (list, tuple)) else (kernel_size,) * 2
        if len(sizes) != 2:
            raise ValueError(f"Expected kernel_size to be an integer or (height, width). "
                             f"Received: kernel_size={kernel_size!r}")
        self.kernel_size = tuple(_positive_int(k, "kernel_size") for k in sizes)
        if unroll is not None and not isinstance(unroll, bool):
            raise ValueError("Expected unroll to be True, False or None. Received: "
                             f"unroll={unroll!r}")
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.zero_inputs, self.unroll = bool(zero_inputs), unroll
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)

    def build(self, input_shape):
        if len(input_shape) != 5 or None in input_shape[2:]:
            raise ValueError("Expected inputs (batch, time, height, width, channels) with static "
                             f"height, width and channels. Received: input_shape={input_shape}")
        frames = input_shape[1]
        if frames is None and (self.unroll or self.zero_inputs):
            raise ValueError("Expected a static number of frames for unroll=True or "
                             f"zero_inputs=True. Received: input_shape={input_shape}")
        channels, f = input_shape[-1], self.filters
        self.kernel = self.add_weight(shape=(*self.kernel_size, channels, 4 * f),
                                      initializer=self.kernel_initializer, name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(*self.kernel_size, f, 4 * f),
                                                initializer=self.recurrent_initializer,
                                                name="recurrent_kernel")

        def forget_bias_ones(shape, dtype=None):  # Keras' blocks: i, f (ones), then c and o
            return ops.concatenate([self.bias_initializer((f,), dtype),
                                    keras.initializers.Ones()((f,), dtype),
                                    self.bias_initializer((2 * f,), dtype)])

        self.bias = self.add_weight(
            shape=(4 * f,), name="bias",
            initializer=forget_bias_ones if self.unit_forget_bias else self.bias_initializer)

    def _step(self, x, h, c):
        """One step from the input's pre-activations ``x`` (with the bias; ``(batch, H, W, 4F)``
        or ``(4F,)``); ``h = c = None`` stands for zero states (the recurrent convolution of
        zeros is zero, and Keras' ``f·0 + i·g`` is ``i·g``)."""
        if h is not None:
            x = x + ops.conv(h, self.recurrent_kernel, padding="same")  # (batch, H, W, 4F)
        i, f, g, o = ops.split(x, 4, axis=-1)
        i, f, o = ops.sigmoid(i), ops.sigmoid(f), ops.sigmoid(o)
        c = i * ops.tanh(g) if c is None else f * c + i * ops.tanh(g)
        return o * ops.tanh(c), c

    def call(self, inputs, initial_state=None):
        shape = ops.shape(inputs)
        batch, frames = shape[0], inputs.shape[1] if inputs.shape[1] is not None else shape[1]
        height, width, channels = inputs.shape[2:]
        unroll = self.unroll
        if unroll is None:
            unroll = isinstance(frames, int) and frames <= MAX_UNROLLED_FRAMES
        if self.zero_inputs:
            # W_x * 0 = 0: the bias alone. `Σ 0·kernel` keeps the kernel in the graph with the
            # zero gradient ConvLSTM2D's convolution of zeros gives it (not None: no "gradients
            # do not exist" warning, and weight decay treats it as ConvLSTM2D's).
            x = self.bias + ops.sum(self.kernel * 0)  # (4F,), the same at every step
        else:
            x = ops.reshape(inputs, (-1, height, width, channels))  # (batch·time, H, W, C)
            x = ops.conv(x, self.kernel, padding="same") + self.bias  # (batch·time, H, W, 4F)
            x = ops.reshape(x, (batch, frames, height, width, 4 * self.filters))
        if initial_state is not None:
            h, c = (ops.cast(s, self.compute_dtype) for s in initial_state)
        elif unroll and not self.zero_inputs:
            h = c = None  # zeros: the first step skips the recurrent convolution
        else:
            h = c = ops.zeros((batch, height, width, self.filters), self.compute_dtype)

        if unroll:
            outputs = []
            for t in range(frames):
                h, c = self._step(x if self.zero_inputs else x[:, t], h, c)
                outputs.append(h)
            sequence = ops.stack(outputs, axis=1) if self.return_sequences else None
        else:
            def step(state, x_t):
                h, c = self._step(x if x_t is None else x_t, *state)
                return (h, c), (h, c)  # Keras' TensorFlow scan wants outputs like the carry

            xs = None if self.zero_inputs else ops.moveaxis(x, 1, 0)  # (time, batch, H, W, 4F)
            length = frames if self.zero_inputs else None
            (h, c), (hs, _) = ops.scan(step, (h, c), xs, length=length)  # hs: (time, batch, ...)
            sequence = ops.moveaxis(hs, 0, 1) if self.return_sequences else None
        output = sequence if self.return_sequences else h
        return (output, h, c) if self.return_state else output

    def compute_output_shape(self, input_shape):
        batch, frames, height, width, _ = input_shape
        state = (batch, height, width, self.filters)
        output = (batch, frames, height, width, self.filters) if self.return_sequences else state
        return (output, state, state) if self.return_state else output

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "zero_inputs": self.zero_inputs, "unroll": self.unroll,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "unit_forget_bias": self.unit_forget_bias}
