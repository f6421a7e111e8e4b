"""PixelRNN layers: the Row LSTM and the Diagonal BiLSTM (van den Oord et al. 2016, §3.1-3.2).

Both are two-dimensional LSTMs whose input-to-state part is a masked convolution over the
whole image, computed once, and whose state-to-state part is a small convolution over the
previous row (Row LSTM) or the previous diagonal (Diagonal BiLSTM), run step by step
(``keras.ops.scan``). With ``[o, f, i, g]`` the four gates (paper eq. 3)::

    [o, f, i, g] = σ(K_ss ⊛ h_prev + K_is ⊛ x)      (tanh for g, σ for o, f, i)
    c = f ⊙ c_prev + i ⊙ g
    h = o ⊙ tanh(c)

The hidden units are split into colour groups (R, G, B) as the channels of
:class:`~kerasseq.layers.pixelcnn.MaskedConv2D`: the input-to-state mask lets a unit of colour
``g`` at pixel ``(i, j)`` see the input colours ``< g`` (mask A) or ``<= g`` (mask B) of the
pixel itself; the state-to-state part reads only pixels that are wholly in the past.

References:
    van den Oord, Kalchbrenner and Kavukcuoglu 2016, "Pixel Recurrent Neural Networks", ICML,
    §3.1 (Row LSTM), §3.2 (Diagonal BiLSTM), §3.4 (masks).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerasseq.layers.pixelcnn import _check_mask_args, pixelcnn_mask


def _lstm_update(pre, c_prev):
    """``(h, c)`` from the pre-activations ``pre = [o, f, i, g]`` (``(..., 4u)``)."""
    o, f, i, g = ops.split(pre, 4, axis=-1)
    c = ops.add(ops.multiply(ops.sigmoid(f), c_prev), ops.multiply(ops.sigmoid(i), ops.tanh(g)))
    return ops.multiply(ops.sigmoid(o), ops.tanh(c)), c


def skew(x):
    """``(batch, h, w, c) -> (batch, h, w + h - 1, c)``: row ``i`` shifted right by ``i``
    (zeros elsewhere), so that the image's diagonals become columns (PixelRNN Figure 3)."""
    height = x.shape[1]
    rows = [ops.pad(x[:, i], [[0, 0], [i, height - 1 - i], [0, 0]]) for i in range(height)]
    return ops.stack(rows, axis=1)


def unskew(x, width: int):
    """The inverse of :func:`skew`: ``(batch, h, w + h - 1, c) -> (batch, h, w, c)``."""
    return ops.stack([x[:, i, i:i + width] for i in range(x.shape[1])], axis=1)


class _PixelLSTMBase(keras.layers.Layer):
    """What the Row LSTM and the Diagonal BiLSTM share: arguments, checks, the masked
    input-to-state kernel and the config."""

    def __init__(self, units, mask_type="B", color_channels=1, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", **kwargs):
        super().__init__(**kwargs)
        _check_mask_args(mask_type, color_channels)
        if not isinstance(units, int) or units < 1 or units % color_channels:
            raise ValueError(f"Expected units >= 1, divisible by color_channels={color_channels}. "
                             f"Received: units={units!r}")
        self.units = units
        self.mask_type = mask_type
        self.color_channels = color_channels
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)

    def _check_input(self, input_shape):
        if len(input_shape) != 4 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(f"Expected an input (batch, height, width, channels) with a known "
                             f"height and width. Received: input_shape={input_shape}")
        if input_shape[-1] % self.color_channels:
            raise ValueError(f"Expected input channels divisible by color_channels="
                             f"{self.color_channels}. Received: input_shape={input_shape}")

    def _input_mask(self, width, in_channels):
        """The mask of a 1 × ``width`` input-to-state kernel: a PixelCNN mask whose output
        colour groups are repeated for the four gates, ``(1, width, in, 4u)``."""
        mask = pixelcnn_mask((1, width), in_channels, self.units, self.mask_type,
                             self.color_channels)
        return np.concatenate([mask] * 4, axis=-1)

    def _weight(self, name, shape, initializer):
        return self.add_weight(name=name, shape=shape, initializer=initializer)

    def _masked(self, kernel, mask):
        return ops.multiply(kernel, ops.convert_to_tensor(mask, dtype=kernel.dtype))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "mask_type": self.mask_type,
                "color_channels": self.color_channels,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer)}


@keras.saving.register_keras_serializable(package="kerasseq")
class RowLSTM(_PixelLSTMBase):
    """The Row LSTM (PixelRNN §3.1): an LSTM over the rows of an image, top to bottom.

    For row ``i`` (``x_i``, ``h_i``, ``c_i``: ``(batch, width, ·)``)::

        [o, f, i, g] = K_ss ⊛ h_{i-1} + K_is ⊛ x_i + b
        c_i = σ(f) ⊙ c_{i-1} + σ(i) ⊙ tanh(g),   h_i = σ(o) ⊙ tanh(c_i)

    ``K_is`` is a 1 × ``kernel_size`` convolution along the row, masked (mask B: the pixel and
    the ``kernel_size // 2`` to its left; mask A without the pixel itself), computed for the
    whole image at once; ``K_ss`` a 1 × ``kernel_size`` convolution over the previous row's
    hidden state, unmasked. With ``r = kernel_size // 2``, the output at ``(i, j)`` sees the
    triangle above: the row ``i - d`` (``d >= 1``) at the columns ``j - (d+1)·r .. j + d·r``
    (``.. j + d·r - 1`` for mask A) and the row ``i`` at ``j - r .. j`` (``.. j - 1``, mask A).

    Shapes: ``(batch, height, width, channels) -> (batch, height, width, units)``.

    Args:
        units: hidden units per pixel (a multiple of ``color_channels``).
        kernel_size: odd width of both convolutions (the paper's ``k = 3``).
        mask_type: ``"B"`` (the paper's recurrent layers) or ``"A"`` (a first layer).
        color_channels: colours of the image (1: grey or binary, 3: RGB).
        kernel_initializer: initialiser of ``K_is``.
        recurrent_initializer: initialiser of ``K_ss``.
        **kwargs: base layer arguments (``name``, ``dtype`` ...).

    Example:
    >>> layer = RowLSTM(6, color_channels=3)
    >>> layer(np.zeros((2, 8, 8, 3), "float32")).shape
    (2, 8, 8, 6)

    References:
        van den Oord, Kalchbrenner and Kavukcuoglu 2016, "Pixel Recurrent Neural Networks",
        ICML, §3.1 and Figure 2.
    """

    def __init__(self, units, kernel_size=3, mask_type="B", color_channels=1,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 **kwargs):
        super().__init__(units, mask_type, color_channels, kernel_initializer,
                         recurrent_initializer, **kwargs)
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"Expected an odd int kernel_size. Received: kernel_size={kernel_size!r}")
        self.kernel_size = kernel_size

    def build(self, input_shape):
        self._check_input(input_shape)
        k, u, c = self.kernel_size, self.units, int(input_shape[-1])
        self.input_kernel = self._weight("input_kernel", (1, k, c, 4 * u), self.kernel_initializer)
        self.recurrent_kernel = self._weight("recurrent_kernel", (k, u, 4 * u),
                                             self.recurrent_initializer)
        self.bias = self._weight("bias", (4 * u,), "zeros")
        self.input_mask = self._input_mask(k, c)  # once, here
        self.built = True

    def call(self, inputs):
        u = self.units
        # (batch, h, w, 4u): every row's input-to-state at once
        pre = ops.conv(inputs, self._masked(self.input_kernel, self.input_mask), padding="same")
        pre = ops.add(pre, self.bias)
        pre = ops.transpose(pre, (1, 0, 2, 3))  # (h, batch, w, 4u)
        zeros = ops.zeros_like(pre[0, ..., :u])  # (batch, w, u)

        k, r = self.kernel_size, self.kernel_size // 2
        # the 1 × k convolution over the previous row as one matmul of its k shifted copies
        recurrent = ops.reshape(self.recurrent_kernel, (k * u, 4 * u))

        def step(carry, pre_row):
            h_prev, c_prev = carry
            padded = ops.pad(h_prev, [[0, 0], [r, r], [0, 0]])
            width = ops.shape(h_prev)[1]
            taps = ops.concatenate([padded[:, t:t + width] for t in range(k)], axis=-1)
            state = ops.matmul(taps, recurrent)  # (batch, w, 4u)
            h, c = _lstm_update(ops.add(pre_row, state), c_prev)
            return (h, c), (h, c)  # Keras' TensorFlow scan wants ys shaped as the carry

        _, (hs, _) = ops.scan(step, (zeros, zeros), pre)  # (h, batch, w, u)
        return ops.transpose(hs, (1, 0, 2, 3))

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package="kerasseq")
class DiagonalBiLSTM(_PixelLSTMBase):
    """The Diagonal BiLSTM (PixelRNN §3.2): two LSTMs along the image's diagonals, one from
    the left and one from the right, summed.

    One direction: skew the input (:func:`skew`: row ``i`` shifted right by ``i``) so that the
    diagonals become columns; the input-to-state part is a 1×1 masked convolution (mask B, or A
    for a first layer); then, column ``t`` by column, with ``h_t`` the state ``(batch, h, u)``::

        [o, f, i, g]_{r,t} = K_ss^(0) h_{r-1,t-1} + K_ss^(1) h_{r,t-1} + K_is x_{r,t} + b

    (``K_ss`` a 2×1 convolution over the previous column: the pixel above and the pixel to the
    left in the unskewed image), then unskew. The output at ``(i, j)`` of this direction sees
    every pixel ``(i', j')`` with ``i' <= i`` and ``j' <= j``. The right-to-left direction is
    the same, with its own weights, on the image mirrored left-right; its output is shifted
    down one row (row ``i`` takes row ``i - 1``, row 0 zeros), so that it sees the rows above
    only (``i' < i``, ``j' >= j``) and never the current or a later pixel. Their sum sees the
    whole context: every earlier pixel in raster order (and, mask B, the pixel itself) from
    one layer on, however large the image. Mask A hides the pixel's own colours ``>= g``
    from units of colour ``g``; with one colour it hides the whole pixel, so a 1×1
    input-to-state sees nothing, and a first layer should be a mask-A convolution (as in
    :func:`~kerasseq.models.pixelrnn.build_pixelrnn`). Both directions run in one
    ``keras.ops.scan`` (a leading axis of two, the kernels stacked).

    Shapes: ``(batch, height, width, channels) -> (batch, height, width, units)``.

    Args:
        units: hidden units per pixel and direction (a multiple of ``color_channels``).
        mask_type: ``"B"`` (the paper's recurrent layers) or ``"A"`` (a first layer).
        color_channels: colours of the image (1: grey or binary, 3: RGB).
        kernel_initializer: initialiser of ``K_is``.
        recurrent_initializer: initialiser of ``K_ss``.
        **kwargs: base layer arguments (``name``, ``dtype`` ...).

    Example:
    >>> layer = DiagonalBiLSTM(4)
    >>> layer(np.zeros((2, 7, 5, 1), "float32")).shape
    (2, 7, 5, 4)

    References:
        van den Oord, Kalchbrenner and Kavukcuoglu 2016, "Pixel Recurrent Neural Networks",
        ICML, §3.2 and Figure 3.
    """

    DIRECTIONS = ("forward", "backward")

    def build(self, input_shape):
        self._check_input(input_shape)
        u, c = self.units, int(input_shape[-1])
        for d in self.DIRECTIONS:
            setattr(self, f"{d}_input_kernel", self._weight(
                f"{d}_input_kernel", (c, 4 * u), self.kernel_initializer))
            setattr(self, f"{d}_recurrent_kernel", self._weight(
                f"{d}_recurrent_kernel", (2, u, 4 * u), self.recurrent_initializer))
            setattr(self, f"{d}_bias", self._weight(f"{d}_bias", (4 * u,), "zeros"))
        self.input_mask = self._input_mask(1, c)[0, 0]  # (c, 4u), once, here
        self.built = True

    def call(self, inputs):
        u, (batch, height, width) = self.units, (ops.shape(inputs)[0], *inputs.shape[1:3])
        # Both directions in one scan: axis 0 is the direction, the backward one running on
        # the mirrored image, with the kernels stacked.
        x = ops.stack([inputs, ops.flip(inputs, axis=2)], axis=0)  # (2, batch, h, w, c)
        kernel = ops.stack([self._masked(self.forward_input_kernel, self.input_mask),
                            self._masked(self.backward_input_kernel, self.input_mask)])
        # (2, c, 4u)
        # (.value: TensorFlow's stack does not take Keras variables in a graph)
        bias = ops.reshape(ops.stack([self.forward_bias.value, self.backward_bias.value]),
                           (2, 1, 1, 1, 4 * u))
        # [K_ss^(0); K_ss^(1)]: the state above, then the state to the left
        recurrent = ops.reshape(ops.stack([self.forward_recurrent_kernel.value,
                                           self.backward_recurrent_kernel.value]),
                                (2, 2 * u, 4 * u))
        # Input-to-state (and bias) before skewing: the padding left of each skewed row then
        # holds zero states, as if the image had zeros left of column 0 and above row 0.
        pre = ops.add(ops.einsum("dbhwc,dcg->dbhwg", x, kernel), bias)
        pre = skew(ops.reshape(pre, (-1, height, width, 4 * u)))  # (2·batch, h, w + h - 1, 4u)
        pre = ops.reshape(pre, (2, batch, height, width + height - 1, 4 * u))
        pre = ops.transpose(pre, (3, 0, 1, 2, 4))  # (w + h - 1, 2, batch, h, 4u)
        zeros = ops.zeros_like(pre[0, ..., :u])  # (2, batch, h, u)

        def step(carry, pre_column):
            h_prev, c_prev = carry
            # rows r - 1 and r of the previous column (a 2×1 convolution), zero above row 0
            above = ops.pad(h_prev[:, :, :-1], [[0, 0], [0, 0], [1, 0], [0, 0]])
            state = ops.einsum("dbhk,dkg->dbhg", ops.concatenate([above, h_prev], axis=-1),
                               recurrent)  # (2, batch, h, 4u)
            h, c = _lstm_update(ops.add(pre_column, state), c_prev)
            return (h, c), (h, c)  # Keras' TensorFlow scan wants ys shaped as the carry

        _, (hs, _) = ops.scan(step, (zeros, zeros), pre)  # (w + h - 1, 2, batch, h, u)
        hs = ops.reshape(ops.transpose(hs, (1, 2, 3, 0, 4)), (-1, height, width + height - 1, u))
        hs = ops.reshape(unskew(hs, width), (2, batch, height, width, u))
        forward, backward = hs[0], ops.flip(hs[1], axis=2)
        # shifted down one row: row i of the right-to-left LSTM sees rows <= i at columns >= j
        backward = ops.pad(backward[:, :-1], [[0, 0], [1, 0], [0, 0], [0, 0]])
        return ops.add(forward, backward)
