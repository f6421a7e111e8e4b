"""Swin Transformer V2 layers (Liu et al. 2022): scaled cosine attention, a continuous
(log-spaced) position bias, residual post-norm and reduce-then-norm patch merging.

Numerically the same as timm 1.0.31's ``timm/models/swin_transformer_v2.py``. The window
helpers, the relative-position index, the shifted-window mask and the shift/partition logic
come from :mod:`kerasseq.layers.swin`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from kerasseq.layers.swin import PatchMerging, SwinBlock, WindowAttention, _pair

# timm clamps the learnable per-head logit scale at log(1 / 0.01) before exponentiating it.
_MAX_LOGIT_SCALE = math.log(1.0 / 0.01)


def relative_coords_table(window_size, pretrained_window_size=0) -> np.ndarray:
    """The inputs of Swin V2's continuous position bias: each relative offset (dy, dx) of a
    window, normalised to [-8, 8] by the window (or ``pretrained_window_size`` when > 0) and
    log-spaced:

        d' = 8 d / (w - 1),   table = sign(d') log2(|d'| + 1) / log2(8)

    Returns:
        ``((2 wh - 1) (2 ww - 1), 2)`` float32, rows in the order of
        :func:`kerasseq.layers.swin.relative_position_index`.
    """
    wh, ww = _pair(window_size, "window_size")
    ph, pw = _pair(pretrained_window_size, "pretrained_window_size", 0)
    dy = np.arange(-(wh - 1), wh, dtype="float32")
    dx = np.arange(-(ww - 1), ww, dtype="float32")
    table = np.stack(np.meshgrid(dy, dx, indexing="ij"), axis=-1)  # (2wh-1, 2ww-1, 2)
    table /= np.array([ph - 1, pw - 1] if ph > 0 else [wh - 1, ww - 1], "float32")
    table *= 8.0
    table = np.sign(table) * np.log2(np.abs(table) + 1.0) / np.float32(math.log2(8))
    return table.reshape(-1, 2).astype("float32")


@keras.saving.register_keras_serializable(package="kerasseq")
class WindowAttentionV2(WindowAttention):
    """Window multi-head self-attention of Swin V2: scaled cosine attention with a continuous
    relative-position bias.

        Attention(Q, K, V) = softmax(cos(Q, K) · exp(min(s_h, log 100)) + B + M) V
        B[i, j] = 16 · sigmoid(CPB(table[index[i, j]]))_h,   CPB = Linear(512, no bias)∘ReLU∘Linear(2, 512)

    with ``cos`` the cosine similarity of each query and key (L2-normalised, eps 1e-12), ``s``
    a learnable per-head logit scale (``(heads, 1, 1)``, initialised to log 10), the ``qkv``
    projection biased by ``[q_bias, 0, v_bias]`` (no key bias), ``table`` the log-spaced
    relative coordinates of :func:`relative_coords_table` and ``M`` the optional mask of
    shifted windows. The coordinates and index are computed once in ``build``.

    Args:
        num_heads: attention heads; must divide the channels.
        window_size: ``int`` or ``(wh, ww)``; the input's token axis has wh ww positions.
        pretrained_window_size: window the coordinates are normalised by, when > 0 (to
            transfer a bias learnt on another window); 0: the window itself.
        qkv_bias: the q and v biases.
        attention_dropout: dropout rate on the attention weights.
        dropout: dropout rate on the output projection.
        seed: seed of the dropout layers.
        **kwargs: base layer arguments.

    Call arguments and shapes: as :class:`kerasseq.layers.swin.WindowAttention`
    (``(..., wh ww, channels)`` in and out; ``attention_mask`` ``(num_windows, N, N)``).

    Example:
    >>> y = WindowAttentionV2(num_heads=3, window_size=8)(windows)  # (batch, nW, 64, 96)

    References:
        Liu et al. 2022, "Swin Transformer V2: Scaling up capacity and resolution", §3.2
        (scaled cosine attention, eq. 2; log-spaced continuous position bias, eq. 3-4).
    """

    def __init__(self, num_heads: int, window_size=7, pretrained_window_size=0,
                 qkv_bias: bool = True, attention_dropout: float = 0.0, dropout: float = 0.0,
                 seed=None, **kwargs):
        super().__init__(num_heads=num_heads, window_size=window_size, qkv_bias=qkv_bias,
                         attention_dropout=attention_dropout, dropout=dropout, seed=seed, **kwargs)
        _pair(pretrained_window_size, "pretrained_window_size", 0)
        self.pretrained_window_size = pretrained_window_size

    def build(self, input_shape):
        channels = self._build_common(input_shape, qkv_bias=False)
        if self.qkv_bias:
            self.q_bias = self.add_weight(shape=(channels,), initializer="zeros", name="q_bias")
            self.v_bias = self.add_weight(shape=(channels,), initializer="zeros", name="v_bias")
        self.logit_scale = self.add_weight(shape=(self.num_heads, 1, 1), name="logit_scale",
                                           initializer=keras.initializers.Constant(math.log(10.0)))
        self.cpb_mlp_0 = self._sublayer(keras.layers.Dense, "cpb_mlp_0", units=512,
                                        activation="relu")
        self.cpb_mlp_0.build((None, 2))
        self.cpb_mlp_2 = self._sublayer(keras.layers.Dense, "cpb_mlp_2", units=self.num_heads,
                                        use_bias=False)
        self.cpb_mlp_2.build((None, 512))
        self._coords = relative_coords_table(self.window_size, self.pretrained_window_size)  # (T, 2)

    def _project_qkv(self, inputs):
        qkv = self.qkv(inputs)  # (..., N, 3 C)
        if not self.qkv_bias:
            return qkv
        q_bias = ops.cast(self.q_bias, qkv.dtype)
        bias = ops.concatenate([q_bias, ops.zeros_like(q_bias), ops.cast(self.v_bias, qkv.dtype)])
        return qkv + bias  # (..., N, 3 C)

    def _logits(self, q, k):
        """Scaled cosine similarity: ``(..., heads, N, d)`` twice → ``(..., heads, N, N)``."""
        def normalize(x):  # as torch.nn.functional.normalize, in float32
            x = ops.cast(x, "float32")
            norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
            return ops.cast(x / ops.maximum(norm, 1e-12), q.dtype)

        cosine = ops.matmul(normalize(q), ops.swapaxes(normalize(k), -1, -2))  # (..., heads, N, N)
        scale = ops.exp(ops.minimum(ops.cast(self.logit_scale, "float32"), _MAX_LOGIT_SCALE))
        return ops.cast(cosine, "float32") * scale  # (..., heads, N, N)

    def _bias_table(self):
        coords = ops.convert_to_tensor(self._coords, dtype=self.compute_dtype)  # (T, 2)
        table = self.cpb_mlp_2(self.cpb_mlp_0(coords))  # (T, heads)
        return 16.0 * ops.sigmoid(ops.cast(table, "float32"))

    def get_config(self):
        return {**super().get_config(), "pretrained_window_size": self.pretrained_window_size}


@keras.saving.register_keras_serializable(package="kerasseq")
class SwinV2Block(SwinBlock):
    """One Swin V2 block: (shifted-)window cosine attention and an MLP, residual post-norm.

        x = x + DropPath(LN_1(R^-1(W-MSA_v2(R(x)))))
        x = x + DropPath(LN_2(MLP(x))),   MLP(x) = GELU(x W_1 + b_1) W_2 + b_2 (exact GELU)

    The normalisation moves to the end of each residual branch (res-post-norm); the
    attention is :class:`WindowAttentionV2`. Shift, windows, mask and the clamping of window
    and shift to the resolution are those of :class:`kerasseq.layers.swin.SwinBlock`.

    Args:
        num_heads, window_size, shift_size, mlp_ratio, qkv_bias, dropout, attention_dropout,
        drop_path, layer_norm_epsilon, seed: as :class:`kerasseq.layers.swin.SwinBlock`.
        pretrained_window_size: of :class:`WindowAttentionV2` (0: the window itself).
        **kwargs: base layer arguments.

    Input/output: ``(batch, height, width, channels)``, height and width static.

    Example:
    >>> x = SwinV2Block(num_heads=3, window_size=8, shift_size=4)(x)  # (batch, 64, 64, 96)

    References:
        Liu et al. 2022, "Swin Transformer V2: Scaling up capacity and resolution", §3.1-3.2
        (res-post-norm, Fig. 1).
    """

    def __init__(self, num_heads: int, window_size=7, shift_size=0, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, dropout: float = 0.0, attention_dropout: float = 0.0,
                 drop_path: float = 0.0, layer_norm_epsilon: float = 1e-5,
                 pretrained_window_size=0, seed=None, **kwargs):
        super().__init__(num_heads=num_heads, window_size=window_size, shift_size=shift_size,
                         mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, dropout=dropout,
                         attention_dropout=attention_dropout, drop_path=drop_path,
                         layer_norm_epsilon=layer_norm_epsilon, seed=seed, **kwargs)
        _pair(pretrained_window_size, "pretrained_window_size", 0)
        self.pretrained_window_size = pretrained_window_size

    def _make_attention(self, window):
        return self._sublayer(WindowAttentionV2, "attn", num_heads=self.num_heads,
                              window_size=window,
                              pretrained_window_size=self.pretrained_window_size,
                              qkv_bias=self.qkv_bias, attention_dropout=self.attention_dropout,
                              dropout=self.dropout, seed=self.seed)

    def call(self, inputs, training=None):
        x = inputs + self.drop_path(self.norm1(self._attend(inputs, training)), training=training)
        return x + self.drop_path(self.norm2(self._mlp(x, training)), training=training)

    def get_config(self):
        return {**super().get_config(), "pretrained_window_size": self.pretrained_window_size}


@keras.saving.register_keras_serializable(package="kerasseq")
class PatchMergingV2(PatchMerging):
    """Swin V2's downsampling: concatenate each 2 x 2 neighbourhood, reduce, then LayerNorm.

        y[i, j] = LN([x[2i, 2j], x[2i+1, 2j], x[2i, 2j+1], x[2i+1, 2j+1]] W)   (W: 4C → units)

    (V1's :class:`kerasseq.layers.swin.PatchMerging` normalises the 4 C features before the
    reduction; same channel order, no bias, same zero-padding of odd sizes.)

    Args:
        units: output channels; ``None`` gives 2 C.
        layer_norm_epsilon: epsilon of the layer normalization (timm: 1e-5).
        **kwargs: base layer arguments.

    Input ``(batch, H, W, C)`` → output ``(batch, ceil(H / 2), ceil(W / 2), units)``.

    Example:
    >>> x = PatchMergingV2()(x)  # (batch, 64, 64, 96) -> (batch, 32, 32, 192)

    References:
        Liu et al. 2022, "Swin Transformer V2: Scaling up capacity and resolution" (timm's
        ``swin_transformer_v2.PatchMerging``).
    """

    def build(self, input_shape):
        units = self._output_units(input_shape)
        self.reduction = self._sublayer(keras.layers.Dense, "reduction", units=units,
                                        use_bias=False)
        self.reduction.build((None, None, None, 4 * input_shape[-1]))
        self.norm = self._sublayer(keras.layers.LayerNormalization, "norm",
                                   epsilon=self.layer_norm_epsilon)
        self.norm.build((None, None, None, units))

    def call(self, inputs):
        return self.norm(self.reduction(self.merge(inputs)))  # (batch, H/2, W/2, units)
