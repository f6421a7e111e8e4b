"""PixelCNN layers: masked convolutions and the gated PixelCNN block.

An autoregressive image model writes ``p(x) = ∏_i p(x_i | x_<i)`` over the pixels in raster
order (row by row, left to right; within a pixel, colour by colour R → G → B). A convolution
respects that order when its kernel is masked so the output at pixel ``i`` sees only inputs
before ``i`` (mask A, the first layer) or up to and including ``i`` (mask B, every later
layer: the features at ``i`` already depend only on ``x_<i``). Stacked masked convolutions
miss a triangle above-right of each pixel (the "blind spot"); the gated PixelCNN splits the
layer into a vertical stack (the rows above, full width) and a horizontal stack (the current
row, left of the pixel) that reads the vertical stack, which removes it.

References:
    van den Oord, Kalchbrenner and Kavukcuoglu 2016, "Pixel Recurrent Neural Networks", ICML
    (PixelCNN, masks A and B, §3.4).
    van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves and Kavukcuoglu 2016, "Conditional
    Image Generation with PixelCNN Decoders", NeurIPS (gated PixelCNN, §2.2-2.3).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

MASK_TYPES = ("A", "B")


def _check_mask_args(mask_type, color_channels):
    if mask_type not in MASK_TYPES:
        raise ValueError(f"Expected mask_type 'A' or 'B'. Received: mask_type={mask_type!r}")
    if not isinstance(color_channels, int) or color_channels < 1:
        raise ValueError(f"Expected color_channels >= 1. Received: color_channels={color_channels!r}")


def color_groups(channels: int, color_channels: int) -> np.ndarray:
    """The colour (0 = R, 1 = G, 2 = B ...) each of ``channels`` feature channels belongs to:
    ``color_channels`` contiguous equal groups, as in PixelRNN §3.4."""
    if channels % color_channels:
        raise ValueError(f"Expected a channel count divisible by color_channels={color_channels} "
                         f"(one equal group of features per colour). Received: {channels} channels")
    return np.arange(channels) * color_channels // channels


def pixelcnn_mask(kernel_size, in_channels: int, out_channels: int, mask_type: str = "B",
                  color_channels: int = 1) -> np.ndarray:
    """The mask of a PixelCNN convolution, float32 ``(kh, kw, in_channels, out_channels)``.

    Taps before the kernel's centre in raster order (the rows above, and the centre row's
    left half) are 1, taps after it 0. At the centre tap, output colour ``g`` sees input colour
    ``c`` when ``c < g`` (mask A) or ``c <= g`` (mask B); with one colour channel mask A
    excludes the centre pixel and mask B includes it.

    Example:
    >>> pixelcnn_mask(3, 1, 1, "A")[..., 0, 0]
    array([[1., 1., 1.],
           [1., 0., 0.],
           [0., 0., 0.]], dtype=float32)
    """
    _check_mask_args(mask_type, color_channels)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    mask = np.zeros((kh, kw, in_channels, out_channels), np.float32)
    mask[:kh // 2] = 1.0
    mask[kh // 2, :kw // 2] = 1.0
    seen = color_groups(in_channels, color_channels)[:, None]
    out = color_groups(out_channels, color_channels)[None, :]
    mask[kh // 2, kw // 2] = (seen < out) if mask_type == "A" else (seen <= out)
    return mask


@keras.saving.register_keras_serializable(package="kerasseq")
class MaskedConv2D(keras.layers.Conv2D):
    """A PixelCNN convolution: ``keras.layers.Conv2D`` whose kernel is masked so that the output
    at a pixel depends only on the inputs before it in raster order (:func:`pixelcnn_mask`).

    ``y = conv(x, W ⊙ M) + b`` with stride 1 and ``"same"`` padding. Mask A (the first layer)
    hides the centre pixel, mask B (later layers) shows it; with ``color_channels = C > 1`` the
    input and output channels are split into ``C`` contiguous groups (R, G, B) and, at the
    centre pixel, output colour ``g`` sees input colours ``< g`` (A) or ``<= g`` (B), PixelRNN
    §3.4. The mask is computed once in ``build()``.

    Shapes: ``(batch, height, width, channels) -> (batch, height, width, filters)``.

    Args:
        filters: output channels (a multiple of ``color_channels``).
        kernel_size: an odd int or pair.
        mask_type: ``"A"`` or ``"B"``.
        color_channels: colours of the image (1: grey or binary, 3: RGB); the input's channels
            must be a multiple of it.
        **kwargs: the other ``keras.layers.Conv2D`` arguments (``activation``, ``use_bias``,
            initialisers ...); ``padding`` must be ``"same"`` and ``strides`` 1.

    Example:
    >>> conv = MaskedConv2D(6, 3, mask_type="A", color_channels=3)
    >>> conv(np.zeros((2, 8, 8, 3), "float32")).shape
    (2, 8, 8, 6)

    References:
        van den Oord, Kalchbrenner and Kavukcuoglu 2016, "Pixel Recurrent Neural Networks",
        ICML, §3.4 and Figure 2.
    """

    def __init__(self, filters, kernel_size, mask_type="B", color_channels=1, **kwargs):
        _check_mask_args(mask_type, color_channels)
        padding = kwargs.pop("padding", "same")
        strides = kwargs.pop("strides", (1, 1))
        if padding != "same" or tuple(np.broadcast_to(strides, 2)) != (1, 1):
            raise ValueError("Expected padding='same' and strides=1 (a masked convolution keeps "
                             f"the pixel grid). Received: padding={padding!r}, strides={strides!r}")
        if kwargs.get("data_format", "channels_last") not in (None, "channels_last"):
            raise ValueError(f"Expected data_format='channels_last'. Received: "
                             f"data_format={kwargs['data_format']!r}")
        super().__init__(filters, kernel_size, padding="same", strides=1, **kwargs)
        if any(k % 2 == 0 for k in self.kernel_size):
            raise ValueError(f"Expected an odd kernel_size (a centre pixel). Received: "
                             f"kernel_size={kernel_size!r}")
        if filters % color_channels:
            raise ValueError(f"Expected filters divisible by color_channels={color_channels}. "
                             f"Received: filters={filters}")
        self.mask_type = mask_type
        self.color_channels = color_channels

    def build(self, input_shape):
        super().build(input_shape)
        self.mask = pixelcnn_mask(self.kernel_size, int(input_shape[-1]), self.filters,
                                  self.mask_type, self.color_channels)

    def convolution_op(self, inputs, kernel):
        mask = ops.convert_to_tensor(self.mask, dtype=kernel.dtype)
        return super().convolution_op(inputs, ops.multiply(kernel, mask))

    def get_config(self):
        config = super().get_config()
        for derived in ("padding", "strides"):  # fixed, not arguments
            config.pop(derived, None)
        return {**config, "mask_type": self.mask_type, "color_channels": self.color_channels}


@keras.saving.register_keras_serializable(package="kerasseq")
class GatedPixelCNNBlock(keras.layers.Layer):
    """One layer of the gated PixelCNN: a vertical and a horizontal stack without a blind spot.

    With ``p = filters`` and ``n = kernel_size`` (van den Oord et al. 2016, §2.2, Figure 2)::

        v_f, v_g = split(V ∗ v + V_h h)           V: n//2+1 × n, the rows above (and, mask B,
        v' = tanh(v_f) ⊙ σ(v_g)                      the current row: the vertical stack
                                                     never holds the current row of the image)
        h_f, h_g = split(H ∗ h + L v_pre + H_h h)  H: 1 × n//2+1, the current row up to the
        h' = h + O (tanh(h_f) ⊙ σ(h_g))              pixel; L, O: 1×1; residual for mask B

    where ``v_pre = V ∗ v + V_h h`` (the vertical stack before its gate, ``2p`` channels)
    feeds the horizontal stack through the 1×1 link ``L``, and the optional class-conditional
    bias ``V_h h``, ``H_h h`` (``h`` a vector per image, e.g. a one-hot label) is added to both
    stacks' gates (§2.3; the vertical one before the link, so the last layer, whose vertical
    output is unused, still trains it). Mask A (the first layer, fed the image in both
    stacks) drops the vertical kernel's current row and the horizontal kernel's centre pixel
    (or, with ``color_channels > 1``, the centre pixel's own and later colours; the horizontal
    stack's channels are split into colour groups as in :class:`MaskedConv2D`) and has no
    residual; mask B layers keep them, and their horizontal input must have ``filters``
    channels. Every mask is computed once in ``build()``.

    Receptive field: after ``L`` layers with kernel ``n`` (``r = n // 2``) the horizontal
    output at ``(i, j)`` sees the rows ``i - L·r .. i - 1`` at the columns ``j - L·r .. j + L·r``
    and the row ``i`` at the columns ``j - L·r .. j - 1``: every earlier pixel within that
    window, none later.

    Inputs: ``[vertical, horizontal]`` or, with ``conditional=True``, ``[vertical, horizontal,
    condition]``: ``(batch, height, width, channels)`` twice and ``(batch, condition_dim)``.
    Outputs: ``[vertical, horizontal]``, each ``(batch, height, width, filters)``.

    Args:
        filters: ``p``, the channels of each stack (a multiple of ``color_channels``).
        kernel_size: ``n``, odd.
        mask_type: ``"A"`` (first layer) or ``"B"``.
        color_channels: colours of the image (1: grey or binary, 3: RGB).
        conditional: take a third input, the condition vector ``h``.
        kernel_initializer: initialiser of every kernel.
        **kwargs: base layer arguments (``name``, ``dtype`` ...).

    Example:
    >>> block = GatedPixelCNNBlock(8, kernel_size=7, mask_type="A")
    >>> x = np.zeros((2, 28, 28, 1), "float32")
    >>> [tuple(t.shape) for t in block([x, x])]
    [(2, 28, 28, 8), (2, 28, 28, 8)]

    References:
        van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves and Kavukcuoglu 2016,
        "Conditional Image Generation with PixelCNN Decoders", NeurIPS, §2.2-2.3.
    """

    def __init__(self, filters, kernel_size=3, mask_type="B", color_channels=1, conditional=False,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        _check_mask_args(mask_type, color_channels)
        if not isinstance(filters, int) or filters < 1 or filters % color_channels:
            raise ValueError(f"Expected filters >= 1, divisible by color_channels={color_channels}. "
                             f"Received: filters={filters!r}")
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"Expected an odd int kernel_size. Received: kernel_size={kernel_size!r}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.mask_type = mask_type
        self.color_channels = color_channels
        self.conditional = conditional
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _split_shapes(self, input_shape):
        expected = 3 if self.conditional else 2
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != expected or not all(
                isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"Expected {expected} inputs ([vertical, horizontal"
                             f"{', condition' if self.conditional else ''}]) with "
                             f"conditional={self.conditional}. Received: input_shape={input_shape}")
        return input_shape

    def build(self, input_shape):
        v_shape, h_shape, *cond_shape = self._split_shapes(input_shape)
        p, n, r = self.filters, self.kernel_size, self.kernel_size // 2
        v_in, h_in = int(v_shape[-1]), int(h_shape[-1])
        if self.mask_type == "B" and h_in != p:
            raise ValueError(f"Expected a horizontal input of filters={p} channels for mask B "
                             f"(the residual connection). Received: input_shape={input_shape}")

        def weight(name, shape, init=None):
            return self.add_weight(name=name, shape=shape,
                                   initializer=init or self.kernel_initializer)

        self.vertical_kernel = weight("vertical_kernel", (r + 1, n, v_in, 2 * p))
        self.vertical_bias = weight("vertical_bias", (2 * p,), "zeros")
        self.horizontal_kernel = weight("horizontal_kernel", (1, r + 1, h_in, 2 * p))
        self.horizontal_bias = weight("horizontal_bias", (2 * p,), "zeros")
        self.link_kernel = weight("link_kernel", (2 * p, 2 * p))
        self.link_bias = weight("link_bias", (2 * p,), "zeros")
        self.output_kernel = weight("output_kernel", (p, p))
        self.output_bias = weight("output_bias", (p,), "zeros")
        if self.conditional:
            d = int(cond_shape[0][-1])
            self.vertical_condition = weight("vertical_condition", (d, 2 * p))
            self.horizontal_condition = weight("horizontal_condition", (d, 2 * p))

        # Masks, once. Vertical: mask A drops the current (last) kernel row.
        self.vertical_mask = np.ones((r + 1, n, v_in, 2 * p), np.float32)
        if self.mask_type == "A":
            self.vertical_mask[-1] = 0.0
        # Horizontal: the left half of a 1 × n PixelCNN mask, the centre tap colour-masked;
        # the value and gate halves get the same colour groups.
        half = pixelcnn_mask((1, n), h_in, p, self.mask_type, self.color_channels)[:, :r + 1]
        self.horizontal_mask = np.concatenate([half, half], axis=-1)
        # The 1×1 output convolution mixes colours as mask B does (a colour sees its own and
        # earlier colours' features at the same pixel). The link needs none: the vertical
        # stack never holds the current row.
        self.output_mask = pixelcnn_mask(1, p, p, "B", self.color_channels)[0, 0]
        self.built = True

    def _gate(self, x):
        value, gate = ops.split(x, 2, axis=-1)
        return ops.multiply(ops.tanh(value), ops.sigmoid(gate))

    def call(self, inputs):
        vertical, horizontal, *condition = inputs
        r = self.kernel_size // 2

        def masked(kernel, mask):
            return ops.multiply(kernel, ops.convert_to_tensor(mask, dtype=kernel.dtype))

        # (batch, height, width, 2p): rows i - r .. i (taps of row i zero for mask A)
        padded = ops.pad(vertical, [[0, 0], [r, 0], [r, r], [0, 0]])
        v_pre = ops.conv(padded, masked(self.vertical_kernel, self.vertical_mask), padding="valid")
        v_pre = ops.add(v_pre, self.vertical_bias)
        if self.conditional:
            v_pre = ops.add(v_pre, ops.matmul(condition[0], self.vertical_condition)[:, None, None, :])
        # (batch, height, width, 2p): row i, columns j - r .. j
        padded = ops.pad(horizontal, [[0, 0], [0, 0], [r, 0], [0, 0]])
        h_pre = ops.conv(padded, masked(self.horizontal_kernel, self.horizontal_mask),
                         padding="valid")
        h_pre = ops.add(ops.add(h_pre, self.horizontal_bias),
                        ops.add(ops.matmul(v_pre, self.link_kernel), self.link_bias))
        if self.conditional:
            h_pre = ops.add(h_pre, ops.matmul(condition[0], self.horizontal_condition)[:, None, None, :])
        v_out = self._gate(v_pre)  # (batch, height, width, p)
        h_out = ops.matmul(self._gate(h_pre), masked(self.output_kernel, self.output_mask))
        h_out = ops.add(h_out, self.output_bias)
        if self.mask_type == "B":
            h_out = ops.add(h_out, horizontal)
        return [v_out, h_out]

    def compute_output_shape(self, input_shape):
        v_shape, h_shape, *_ = self._split_shapes(input_shape)
        return [(*v_shape[:-1], self.filters), (*h_shape[:-1], self.filters)]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "mask_type": self.mask_type, "color_channels": self.color_channels,
                "conditional": self.conditional,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
