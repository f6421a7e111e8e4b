"""Swin Transformer layers (Liu et al. 2021): shifted-window attention and patch merging.

Numerically the same as timm 1.0.31's ``timm/models/swin_transformer.py`` (channels-last
feature maps ``(batch, height, width, channels)``, as timm's stages use): the window helpers,
the relative-position index and the shifted-window mask are module-level functions, computed
once (NumPy) when a layer is built; :mod:`kerasseq.layers.swinv2` reuses them for Swin V2.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerasseq.layers.drop_path import StochasticDepth


def _pair(value, name: str, minimum: int = 1) -> tuple[int, int]:
    """``value`` (an int or a pair of ints, each ``>= minimum``) as a pair."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    if (not isinstance(pair, (list, tuple)) or len(pair) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum
                   for v in pair)):
        raise ValueError(f"Expected {name} to be an integer >= {minimum} or a pair of them. "
                         f"Received: {name}={value!r}")
    return int(pair[0]), int(pair[1])


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Expected {name} to be a positive integer. Received: {name}={value!r}")
    return int(value)


def _rate(value, name: str) -> float:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Expected 0 <= {name} < 1. Received: {name}={value!r}")
    return float(value)


def calc_window_shift(resolution, window_size, shift_size) -> tuple[tuple[int, int], tuple[int, int]]:
    """timm 1.0.31's ``_calc_window_shift``: along each axis, a resolution not larger than
    the window becomes the window (one window covers the map) and the shift is dropped.

    Returns:
        ``(window, shift)``, each an ``(h, w)`` pair.
    """
    window, shift = _pair(window_size, "window_size"), _pair(shift_size, "shift_size", 0)
    window_out = tuple(r if r <= w else w for r, w in zip(resolution, window))
    shift_out = tuple(0 if r <= w else s for r, w, s in zip(resolution, window_out, shift))
    return window_out, shift_out


def window_partition(x, window_size):
    """Cut a feature map into non-overlapping windows (row-major over the windows).

    Args:
        x: ``(batch, height, width, channels)``, height and width static multiples of the window.
        window_size: ``int`` or ``(wh, ww)``.

    Returns:
        ``(batch * num_windows, wh, ww, channels)``, windows of one image contiguous.
    """
    wh, ww = _pair(window_size, "window_size")
    _, height, width, channels = x.shape
    x = ops.reshape(x, (-1, height // wh, wh, width // ww, ww, channels))  # (b, H/wh, wh, W/ww, ww, C)
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))  # (b, H/wh, W/ww, wh, ww, C)
    return ops.reshape(x, (-1, wh, ww, channels))  # (b * nW, wh, ww, C)


def window_reverse(windows, window_size, height: int, width: int):
    """Inverse of :func:`window_partition`: ``(batch * num_windows, wh, ww, channels)`` →
    ``(batch, height, width, channels)``."""
    wh, ww = _pair(window_size, "window_size")
    channels = windows.shape[-1]
    x = ops.reshape(windows, (-1, height // wh, width // ww, wh, ww, channels))  # (b, H/wh, W/ww, wh, ww, C)
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))  # (b, H/wh, wh, W/ww, ww, C)
    return ops.reshape(x, (-1, height, width, channels))  # (b, H, W, C)


def relative_position_index(window_size) -> np.ndarray:
    """For each pair (i, j) of positions of a window, the row of the ``(2 wh - 1) (2 ww - 1)``
    relative-position table holding the bias for the offset ``pos_i - pos_j``:
    ``(dy + wh - 1) (2 ww - 1) + (dx + ww - 1)``. Shape ``(wh ww, wh ww)``, int32 (timm's
    ``get_relative_position_index``)."""
    wh, ww = _pair(window_size, "window_size")
    coords = np.stack(np.meshgrid(np.arange(wh), np.arange(ww), indexing="ij")).reshape(2, -1)  # (2, N)
    relative = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0)  # (N, N, 2)
    return ((relative[..., 0] + wh - 1) * (2 * ww - 1) + relative[..., 1] + ww - 1).astype("int32")


def shifted_window_regions(height: int, width: int, window_size, shift_size) -> np.ndarray:
    """The region label of every position of the cyclically shifted map, as timm labels them.

    After the cyclic shift by ``-shift``, a window at the bottom/right border holds pixels from
    up to 3 x 3 regions that are not neighbours in the image. Along the height the regions are
    the rows ``[0, H - wh), [H - wh, H - sh), [H - sh, H)`` (timm's slices), likewise along the
    width; a position's label is ``3 * row region + column region``.

    Returns:
        ``(height, width)`` int64 labels in 0..8, in the shifted map's coordinates (all 8
        when the shift is zero: timm's last slice is then the whole axis).
    """
    (wh, ww), (sh, sw) = _pair(window_size, "window_size"), _pair(shift_size, "shift_size", 0)

    def labels(size, window, shift):  # region label along one axis, with timm's slices
        label = np.zeros(size, "int64")
        for value, region in enumerate((slice(0, -window), slice(-window, -shift),
                                        slice(-shift, None))):
            label[region] = value  # shift 0: the last slice is the whole axis, as in timm
        return label

    return labels(height, wh, sh)[:, None] * 3 + labels(width, ww, sw)[None, :]  # (H, W)


def shifted_window_mask(height: int, width: int, window_size, shift_size) -> np.ndarray:
    """The additive attention mask of shifted windows (SW-MSA), as timm builds it.

    A pair of positions of a window (after the cyclic shift) may attend only if their regions
    (:func:`shifted_window_regions`) agree: 0, else -100.

    Returns:
        ``(num_windows, wh ww, wh ww)`` float32, windows in :func:`window_partition` order
        (all zeros when the shift is zero).
    """
    wh, ww = _pair(window_size, "window_size")
    if height % wh or width % ww:
        raise ValueError(f"Expected height and width divisible by the window {(wh, ww)}. "
                         f"Received: height={height}, width={width}")
    image = shifted_window_regions(height, width, window_size, shift_size)  # (H, W)
    windows = image.reshape(height // wh, wh, width // ww, ww).transpose(0, 2, 1, 3)
    windows = windows.reshape(-1, wh * ww)  # (nW, N)
    return np.where(windows[:, None, :] != windows[:, :, None], -100.0, 0.0).astype("float32")


@keras.saving.register_keras_serializable(package="kerasseq")
class WindowAttention(keras.layers.Layer):
    """Window multi-head self-attention with a learned relative-position bias (W-MSA).

    Within each window of N = wh ww tokens, per head (``d`` = channels / heads):

        Attention(Q, K, V) = softmax(Q K^T / sqrt(d) + B + M) V

    with Q, K, V from one fused ``qkv`` projection, ``B[i, j] = table[index[i, j]]`` a bias
    per head and relative offset (a ``((2 wh - 1) (2 ww - 1), heads)`` weight, gathered with
    :func:`relative_position_index`, computed once in ``build``), and ``M`` the optional
    additive mask of shifted windows (:func:`shifted_window_mask`). Then the output projection
    ``proj``. Logits and softmax are computed in float32.

    Args:
        num_heads: attention heads; must divide the channels.
        window_size: ``int`` or ``(wh, ww)``; the input's token axis has wh ww positions.
        qkv_bias: a bias on the ``qkv`` projection.
        attention_dropout: dropout rate on the attention weights.
        dropout: dropout rate on the output projection.
        seed: seed of the dropout layers.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: ``(..., wh ww, channels)`` windows, e.g. ``(batch, num_windows, N, channels)``.
        attention_mask: optional additive ``(num_windows, N, N)`` mask; then the inputs must
            be ``(batch, num_windows, N, channels)``.

    Output: the shape of ``inputs``.

    Example:
    >>> windows = window_partition(x, 7)  # (batch * nW, 7, 7, C)
    >>> y = WindowAttention(num_heads=3, window_size=7)(ops.reshape(windows, (-1, 49, C)))

    References:
        Liu et al. 2021, "Swin Transformer: Hierarchical vision transformer using shifted
        windows", §3.2 (relative position bias, eq. 4).
    """

    def __init__(self, num_heads: int, window_size=7, qkv_bias: bool = True,
                 attention_dropout: float = 0.0, dropout: float = 0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = _positive_int(num_heads, "num_heads")
        _pair(window_size, "window_size")
        self.window_size = window_size
        self.qkv_bias = bool(qkv_bias)
        self.attention_dropout = _rate(attention_dropout, "attention_dropout")
        self.dropout = _rate(dropout, "dropout")
        self.seed = seed

    def _sublayer(self, cls, name, **kwargs):
        return cls(**kwargs, name=name, dtype=self.dtype_policy)

    def _seed(self, offset: int):
        """A distinct seed per random sub-layer (None stays None)."""
        return None if self.seed is None else self.seed + offset

    def _check_shape(self, input_shape) -> int:
        wh, ww = _pair(self.window_size, "window_size")
        channels = input_shape[-1]
        if input_shape[-2] != wh * ww or channels is None or channels % self.num_heads:
            raise ValueError(f"Expected inputs (..., {wh * ww}, channels) with channels divisible "
                             f"by num_heads={self.num_heads}. Received: input_shape={input_shape}")
        return channels

    def _build_common(self, input_shape, qkv_bias: bool) -> int:
        """qkv, proj and the dropouts (shared with Swin V2); returns the channels."""
        channels = self._check_shape(input_shape)
        self.qkv = self._sublayer(keras.layers.Dense, "qkv", units=3 * channels, use_bias=qkv_bias)
        self.qkv.build(input_shape)
        self.attn_drop = self._sublayer(keras.layers.Dropout, "attn_drop",
                                        rate=self.attention_dropout, seed=self._seed(0))
        self.proj = self._sublayer(keras.layers.Dense, "proj", units=channels)
        self.proj.build(input_shape)
        self.proj_drop = self._sublayer(keras.layers.Dropout, "proj_drop", rate=self.dropout,
                                        seed=self._seed(1))
        self._area = input_shape[-2]
        self._index = relative_position_index(self.window_size).reshape(-1)  # (N * N,)
        return channels

    def build(self, input_shape):
        self._build_common(input_shape, self.qkv_bias)
        wh, ww = _pair(self.window_size, "window_size")
        self.relative_position_bias_table = self.add_weight(
            shape=((2 * wh - 1) * (2 * ww - 1), self.num_heads), name="relative_position_bias_table",
            initializer=keras.initializers.TruncatedNormal(stddev=0.02))

    def _project_qkv(self, inputs):
        return self.qkv(inputs)  # (..., N, 3 C)

    def _logits(self, q, k):
        """``Q K^T / sqrt(d)``: ``(..., heads, N, d)`` twice → ``(..., heads, N, N)``."""
        scale = ops.cast(q.shape[-1] ** -0.5, q.dtype)
        return ops.matmul(q * scale, ops.swapaxes(k, -1, -2))  # (..., heads, N, N)

    def _bias_table(self):
        return self.relative_position_bias_table  # (T, heads)

    def position_bias(self):
        """The relative-position bias ``B``: ``(heads, N, N)``."""
        n = self._area
        bias = ops.take(self._bias_table(), self._index, axis=0)  # (N * N, heads)
        return ops.transpose(ops.reshape(bias, (n, n, self.num_heads)), (2, 0, 1))  # (heads, N, N)

    def call(self, inputs, attention_mask=None, training=None):
        channels = inputs.shape[-1]
        head_dim = channels // self.num_heads
        qkv = self._project_qkv(inputs)  # (..., N, 3 C)
        lead = ops.shape(qkv)[:-1]  # (..., N)
        rank = len(qkv.shape)  # of (..., N, 3, heads, d) below: rank + 2
        qkv = ops.reshape(qkv, (*lead, 3, self.num_heads, head_dim))  # (..., N, 3, heads, d)
        # -> (3, ..., heads, N, d)
        qkv = ops.transpose(qkv, (rank - 1, *range(rank - 2), rank, rank - 2, rank + 1))
        q, k, v = qkv[0], qkv[1], qkv[2]  # (..., heads, N, d)

        logits = ops.cast(self._logits(q, k), "float32")  # (..., heads, N, N)
        logits = logits + ops.cast(self.position_bias(), "float32")
        if attention_mask is not None:
            mask = ops.cast(attention_mask, "float32")  # (nW, N, N)
            logits = logits + ops.expand_dims(mask, -3)  # (batch, nW, heads, N, N)
        weights = ops.cast(ops.softmax(logits, axis=-1), self.compute_dtype)  # (..., heads, N, N)
        weights = self.attn_drop(weights, training=training)

        x = ops.matmul(weights, v)  # (..., heads, N, d)
        x = ops.swapaxes(x, -2, -3)  # (..., N, heads, d)
        x = ops.reshape(x, (*lead, channels))  # (..., N, C)
        return self.proj_drop(self.proj(x), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads,
                "window_size": self.window_size, "qkv_bias": self.qkv_bias,
                "attention_dropout": self.attention_dropout, "dropout": self.dropout,
                "seed": self.seed}


@keras.saving.register_keras_serializable(package="kerasseq")
class SwinBlock(keras.layers.Layer):
    """One Swin Transformer block: (shifted-)window attention and an MLP, pre-norm residuals.

        x = x + DropPath(R^-1(W-MSA(R(LN_1(x)))))
        x = x + DropPath(MLP(LN_2(x))),   MLP(x) = GELU(x W_1 + b_1) W_2 + b_2 (exact GELU)

    where R cyclically shifts the map by ``-shift`` (``keras.ops.roll``) and cuts it into
    windows, R^-1 undoes both, and the attention of shifted windows uses the mask of
    :func:`shifted_window_mask`. The window and shift are fixed when the block is built, from
    the input resolution, exactly as timm 1.0.31: an axis not larger than the window becomes
    one window with no shift (:func:`calc_window_shift`). The mask and relative-position index
    are computed then, once.

    Args:
        num_heads: attention heads; must divide the channels.
        window_size: ``int`` or ``(wh, ww)`` (before clamping to the resolution).
        shift_size: ``int`` or pair, ``0 <= shift < window``; 0 for W-MSA, ``window // 2``
            for SW-MSA (every second block of a stage).
        mlp_ratio: hidden width of the MLP over the channels.
        qkv_bias: a bias on the ``qkv`` projection.
        dropout: dropout rate after the attention projection and in the MLP (timm's proj_drop).
        attention_dropout: dropout rate on the attention weights.
        drop_path: stochastic-depth rate of both residual branches.
        layer_norm_epsilon: epsilon of the layer normalizations (timm: 1e-5).
        seed: seed of the dropout and stochastic-depth layers.
        **kwargs: base layer arguments.

    Input/output: ``(batch, height, width, channels)``, height and width static and divisible
    by the (clamped) window.

    Example:
    >>> x = SwinBlock(num_heads=3, window_size=7)(x)                # (batch, 56, 56, 96)
    >>> x = SwinBlock(num_heads=3, window_size=7, shift_size=3)(x)  # shifted windows

    References:
        Liu et al. 2021, "Swin Transformer: Hierarchical vision transformer using shifted
        windows", §3.1-3.2 (eq. 3, Fig. 3-4).
    """

    def __init__(self, num_heads: int, window_size=7, shift_size=0, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, dropout: float = 0.0, attention_dropout: float = 0.0,
                 drop_path: float = 0.0, layer_norm_epsilon: float = 1e-5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = _positive_int(num_heads, "num_heads")
        window, shift = _pair(window_size, "window_size"), _pair(shift_size, "shift_size", 0)
        if any(s >= w for s, w in zip(shift, window)):
            raise ValueError(f"Expected 0 <= shift_size < window_size. Received: "
                             f"shift_size={shift_size!r}, window_size={window_size!r}")
        if not mlp_ratio > 0:
            raise ValueError(f"Expected mlp_ratio > 0. Received: mlp_ratio={mlp_ratio!r}")
        self.window_size = window_size
        self.shift_size = shift_size
        self.mlp_ratio = float(mlp_ratio)
        self.qkv_bias = bool(qkv_bias)
        self.dropout = _rate(dropout, "dropout")
        self.attention_dropout = _rate(attention_dropout, "attention_dropout")
        self.drop_path_rate = _rate(drop_path, "drop_path")
        self.layer_norm_epsilon = layer_norm_epsilon
        self.seed = seed

    def _sublayer(self, cls, name, **kwargs):
        return cls(**kwargs, name=name, dtype=self.dtype_policy)

    def _seed(self, offset: int):
        """A distinct seed per random sub-layer (None stays None); the attention takes 0, 1."""
        return None if self.seed is None else self.seed + offset

    def _make_attention(self, window):
        return self._sublayer(WindowAttention, "attn", num_heads=self.num_heads,
                              window_size=window, qkv_bias=self.qkv_bias,
                              attention_dropout=self.attention_dropout, dropout=self.dropout,
                              seed=self.seed)  # its dropouts use seed, seed + 1

    def build(self, input_shape):
        if len(input_shape) != 4 or None in tuple(input_shape[1:]):
            raise ValueError("Expected inputs (batch, height, width, channels) with static height, "
                             f"width and channels. Received: input_shape={input_shape}")
        _, height, width, channels = input_shape
        self.window, self.shift = calc_window_shift((height, width), self.window_size,
                                                    self.shift_size)
        (wh, ww), (sh, sw) = self.window, self.shift
        if height % wh or width % ww:
            raise ValueError(f"Expected height and width divisible by the window {self.window}. "
                             f"Received: input_shape={input_shape}")
        self._num_windows = (height // wh) * (width // ww)
        # Constant (num_windows, N, N) mask, made once here; None without a shift.
        self._mask = shifted_window_mask(height, width, self.window, self.shift) if sh or sw else None

        self.norm1 = self._sublayer(keras.layers.LayerNormalization, "norm1",
                                    epsilon=self.layer_norm_epsilon)
        self.norm1.build(input_shape)
        self.attn = self._make_attention(self.window)
        self.attn.build((None, self._num_windows, wh * ww, channels))
        self.norm2 = self._sublayer(keras.layers.LayerNormalization, "norm2",
                                    epsilon=self.layer_norm_epsilon)
        self.norm2.build(input_shape)
        hidden = int(channels * self.mlp_ratio)
        self.fc1 = self._sublayer(keras.layers.Dense, "mlp_fc1", units=hidden)
        self.fc1.build(input_shape)
        self.fc2 = self._sublayer(keras.layers.Dense, "mlp_fc2", units=channels)
        self.fc2.build((*input_shape[:-1], hidden))
        self.mlp_drop = self._sublayer(keras.layers.Dropout, "mlp_drop", rate=self.dropout,
                                       seed=self._seed(2))
        self.drop_path = self._sublayer(StochasticDepth, "drop_path", rate=self.drop_path_rate,
                                        seed=self._seed(3))

    def _attend(self, x, training=None):
        """(Shifted-)window attention over a map: ``(batch, H, W, C)`` → same shape."""
        _, height, width, channels = x.shape
        (wh, ww), (sh, sw) = self.window, self.shift
        if sh or sw:
            x = ops.roll(x, shift=(-sh, -sw), axis=(1, 2))  # (batch, H, W, C)
        windows = window_partition(x, self.window)  # (batch * nW, wh, ww, C)
        windows = ops.reshape(windows, (-1, self._num_windows, wh * ww, channels))  # (batch, nW, N, C)
        mask = None if self._mask is None else ops.convert_to_tensor(self._mask)  # (nW, N, N)
        windows = self.attn(windows, attention_mask=mask, training=training)  # (batch, nW, N, C)
        windows = ops.reshape(windows, (-1, wh, ww, channels))  # (batch * nW, wh, ww, C)
        x = window_reverse(windows, self.window, height, width)  # (batch, H, W, C)
        if sh or sw:
            x = ops.roll(x, shift=(sh, sw), axis=(1, 2))
        return x

    def _mlp(self, x, training=None):
        x = ops.gelu(self.fc1(x), approximate=False)  # (batch, H, W, hidden)
        x = self.mlp_drop(x, training=training)
        return self.mlp_drop(self.fc2(x), training=training)  # (batch, H, W, C)

    def call(self, inputs, training=None):
        x = inputs + self.drop_path(self._attend(self.norm1(inputs), training), training=training)
        return x + self.drop_path(self._mlp(self.norm2(x), training), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads,
                "window_size": self.window_size, "shift_size": self.shift_size,
                "mlp_ratio": self.mlp_ratio, "qkv_bias": self.qkv_bias, "dropout": self.dropout,
                "attention_dropout": self.attention_dropout, "drop_path": self.drop_path_rate,
                "layer_norm_epsilon": self.layer_norm_epsilon, "seed": self.seed}


@keras.saving.register_keras_serializable(package="kerasseq")
class PatchMerging(keras.layers.Layer):
    """Swin's downsampling: concatenate each 2 x 2 neighbourhood, LayerNorm, linear reduction.

        y[i, j] = LN([x[2i, 2j], x[2i+1, 2j], x[2i, 2j+1], x[2i+1, 2j+1]]) W   (W: 4C → units)

    in timm's channel order (x0, x1, x2, x3 above), no bias. An odd height or width is
    zero-padded at the bottom/right first, as timm 1.0.31 does.

    Args:
        units: output channels; ``None`` gives 2 C.
        layer_norm_epsilon: epsilon of the layer normalization (timm: 1e-5).
        **kwargs: base layer arguments.

    Input ``(batch, H, W, C)`` → output ``(batch, ceil(H / 2), ceil(W / 2), units)``.

    Example:
    >>> x = PatchMerging()(x)  # (batch, 56, 56, 96) -> (batch, 28, 28, 192)

    References:
        Liu et al. 2021, "Swin Transformer: Hierarchical vision transformer using shifted
        windows", §3.1 (patch merging).
    """

    def __init__(self, units=None, layer_norm_epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        if units is not None:
            _positive_int(units, "units")
        self.units = units
        self.layer_norm_epsilon = layer_norm_epsilon

    def _sublayer(self, cls, name, **kwargs):
        return cls(**kwargs, name=name, dtype=self.dtype_policy)

    def _output_units(self, input_shape) -> int:
        if len(input_shape) != 4 or None in tuple(input_shape[1:]):
            raise ValueError("Expected inputs (batch, height, width, channels) with static height, "
                             f"width and channels. Received: input_shape={input_shape}")
        return self.units or 2 * input_shape[-1]

    def build(self, input_shape):
        units = self._output_units(input_shape)
        merged = (None, None, None, 4 * input_shape[-1])
        self.norm = self._sublayer(keras.layers.LayerNormalization, "norm",
                                   epsilon=self.layer_norm_epsilon)
        self.norm.build(merged)
        self.reduction = self._sublayer(keras.layers.Dense, "reduction", units=units,
                                        use_bias=False)
        self.reduction.build(merged)

    @staticmethod
    def merge(x):
        """``(batch, H, W, C)`` → ``(batch, H/2, W/2, 4 C)``, channels [x0, x1, x2, x3]."""
        _, height, width, channels = x.shape
        if height % 2 or width % 2:
            x = ops.pad(x, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)))
            height, width = height + height % 2, width + width % 2
        x = ops.reshape(x, (-1, height // 2, 2, width // 2, 2, channels))  # (b, H/2, dy, W/2, dx, C)
        x = ops.transpose(x, (0, 1, 3, 4, 2, 5))  # (b, H/2, W/2, dx, dy, C)
        return ops.reshape(x, (-1, height // 2, width // 2, 4 * channels))  # (b, H/2, W/2, 4C)

    def call(self, inputs):
        return self.reduction(self.norm(self.merge(inputs)))  # (batch, H/2, W/2, units)

    def compute_output_shape(self, input_shape):
        _, height, width, _ = input_shape
        return (input_shape[0], (height + 1) // 2, (width + 1) // 2, self._output_units(input_shape))

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "layer_norm_epsilon": self.layer_norm_epsilon}
