"""Layers of the long-horizon forecasters: reversible instance normalisation (RevIN), the
moving-average series decomposition of Autoformer/DLinear, and the channel-independent patch
Transformer encoder of PatchTST.

The series are ``(batch, time, channels)``. PatchTST treats every channel as its own
univariate series: the model folds the channels into the batch, ``(batch * channels, time)``,
before :class:`PatchTSTEncoder` (see :func:`kerasseq.models.build_patchtst`).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Expected `{name}` to be a positive integer. Received: {name}={value!r}")
    return value


def _rate(name, value):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Expected 0 <= {name} < 1. Received: {name}={value!r}")
    return float(value)


def torch_linear_initializers(fan_in: int) -> dict:
    """PyTorch's default ``nn.Linear`` initialisation, U(±1/√fan_in) for kernel and bias, as
    ``keras.layers.Dense`` keyword arguments."""
    bound = 1.0 / math.sqrt(fan_in)
    return dict(kernel_initializer=keras.initializers.RandomUniform(-bound, bound),
                bias_initializer=keras.initializers.RandomUniform(-bound, bound))


@keras.saving.register_keras_serializable(package="kerasseq")
class ReversibleInstanceNorm(keras.layers.Layer):
    """Reversible instance normalisation (RevIN): normalise each series by its own statistics,
    and de-normalise the model's forecast with them.

        mean = mean_t x[b, t, c],   std = sqrt(var_t x[b, t, c] + eps)   (biased variance)
        normalise:    x̂ = (x - mean) / std * weight[c] + bias[c]
        de-normalise: y = (ŷ - bias[c]) / (weight[c] + eps²) * std + mean

    per instance b and channel c, with a learnable per-channel affine ``weight`` (ones) and
    ``bias`` (zeros) when ``affine=True``, as the RevIN of the official PatchTST code. The
    statistics are not differentiated (the official ``.detach()``).

    One layer is called twice, so that both directions share the affine weights:

    - ``layer(x)``: ``x`` ``(batch, time, channels)`` → ``[normalised, mean, std]``, the
      normalised series ``(batch, time, channels)`` and the statistics ``(batch, 1, channels)``;
    - ``layer.denormalize(y, mean, std)`` (= ``layer([y, mean, std], mode="denorm")``): ``y``
      ``(batch, horizon, k)`` → ``(batch, horizon, k)``. With k < channels the forecast
      channels are the **last** k channels of ``x`` (their statistics and weights are used).

    Both are ordinary layer calls, so this works in a functional ``keras.Model`` and through a
    ``.keras`` save/load. The first call must normalise (it builds the weights).

    Args:
        affine: learn the per-channel ``weight`` and ``bias``.
        epsilon: the eps of the formulas.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:
    >>> revin = ReversibleInstanceNorm(name="revin")
    >>> x, mean, std = revin(series)  # (batch, 336, 7), (batch, 1, 7), (batch, 1, 7)
    >>> forecast = revin.denormalize(model_body(x), mean, std)  # (batch, 96, 7)

    References:
        Kim et al. 2022, "Reversible instance normalization for accurate time-series
        forecasting against distribution shift" (ICLR); Nie et al. 2023, PatchTST,
        ``layers/RevIN.py``.
    """

    def __init__(self, affine: bool = True, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        if not epsilon > 0:
            raise ValueError(f"Expected epsilon > 0. Received: epsilon={epsilon!r}")
        self.affine = bool(affine)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape \
                and isinstance(input_shape[0], (list, tuple)) or len(input_shape) != 3 \
                or input_shape[-1] is None:
            raise ValueError("Expected the first call to normalise a series (batch, time, "
                             f"channels) with known channels. Received: input_shape={input_shape}")
        self.channels = int(input_shape[-1])
        if self.affine:
            self.affine_weight = self.add_weight((self.channels,), "ones", name="affine_weight")
            self.affine_bias = self.add_weight((self.channels,), "zeros", name="affine_bias")

    def _affine(self, k):
        """The affine weight and bias of the last ``k`` channels, float32 ``(k,)``."""
        return (ops.cast(self.affine_weight, "float32")[self.channels - k:],
                ops.cast(self.affine_bias, "float32")[self.channels - k:])

    def call(self, inputs, mode="norm"):
        if mode == "norm":
            x = ops.cast(inputs, "float32")  # statistics in float32 under mixed precision
            mean = ops.stop_gradient(ops.mean(x, axis=1, keepdims=True))  # (batch, 1, channels)
            std = ops.stop_gradient(ops.sqrt(ops.var(x, axis=1, keepdims=True) + self.epsilon))
            x = (x - mean) / std  # (batch, time, channels)
            if self.affine:
                weight, bias = self._affine(self.channels)
                x = x * weight + bias
            return [ops.cast(t, self.compute_dtype) for t in (x, mean, std)]
        if mode != "denorm":
            raise ValueError(f"Expected mode to be 'norm' or 'denorm'. Received: mode={mode!r}")
        y, mean, std = (ops.cast(t, "float32") for t in inputs)
        k = y.shape[-1]  # the forecast channels: the last k of the input's
        if k is None or k > self.channels:
            raise ValueError(f"Expected a forecast with at most channels={self.channels} "
                             f"channels. Received: shape={y.shape}")
        if self.affine:
            weight, bias = self._affine(k)
            y = (y - bias) / (weight + self.epsilon ** 2)
        y = y * std[..., self.channels - k:] + mean[..., self.channels - k:]  # (batch, horizon, k)
        return ops.cast(y, self.compute_dtype)

    def denormalize(self, y, mean, std):
        """De-normalise the forecast ``y`` ``(batch, horizon, k)`` with the statistics the
        normalising call returned (the last k channels when k < channels)."""
        return self([y, mean, std], mode="denorm")

    def get_config(self):
        return {**super().get_config(), "affine": self.affine, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="kerasseq")
class SeriesDecomposition(keras.layers.Layer):
    """Split a series into a trend (moving average) and a seasonal part (the residual).

        trend[t] = 1/k Σ_{j=-(k-1)/2}^{(k-1)/2} x̃[t + j],   seasonal = x - trend

    where x̃ is x padded with (k-1)/2 copies of its first value in front and of its last
    value at the end, so the trend has the length of x (Autoformer's and DLinear's
    ``series_decomp``: ``AvgPool1d(k, stride=1)`` over the edge-replicated series). Each
    channel is averaged on its own.

    Input ``(batch, time, channels)``; output ``[seasonal, trend]``, both
    ``(batch, time, channels)``.

    Args:
        kernel_size: k, odd (the official code breaks for an even k).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:
    >>> seasonal, trend = SeriesDecomposition(25)(series)  # (batch, 336, 7) each

    References:
        Wu et al. 2021, "Autoformer: Decomposition transformers with auto-correlation for
        long-term series forecasting" (NeurIPS), §3.1; Zeng et al. 2023, "Are Transformers
        effective for time series forecasting?" (AAAI), ``models/DLinear.py``.
    """

    def __init__(self, kernel_size: int = 25, **kwargs):
        super().__init__(**kwargs)
        _positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"Expected an odd kernel_size. Received: kernel_size={kernel_size}")
        self.kernel_size = kernel_size

    def call(self, inputs):
        half = (self.kernel_size - 1) // 2
        front = ops.repeat(inputs[:, :1], half, axis=1)  # (batch, half, channels)
        end = ops.repeat(inputs[:, -1:], half, axis=1)
        padded = ops.concatenate([front, inputs, end], axis=1)  # (batch, time + k - 1, channels)
        trend = ops.average_pool(padded, self.kernel_size, strides=1, padding="valid",
                                 data_format="channels_last")  # (batch, time, channels)
        return [inputs - trend, trend]

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape), tuple(input_shape)]

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size}


def num_patches(input_length: int, patch_len: int, stride: int) -> int:
    """PatchTST's patch count after padding the end with ``stride`` copies of the last value:
    ``(L - patch_len) // stride + 2`` (L=336, 16, 8 → 42; L=512 → 64)."""
    if input_length < patch_len:
        raise ValueError(f"Expected input_length >= patch_len={patch_len}. "
                         f"Received: input_length={input_length}")
    return (input_length - patch_len) // stride + 2


class _TSTEncoderLayer(keras.layers.Layer):
    """One layer of the official ``TSTEncoderLayer`` (post-norm, residual attention);
    built and rebuilt by :class:`PatchTSTEncoder`, never saved on its own."""

    def __init__(self, encoder, index, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.head_dim = encoder.num_heads, encoder.d_model // encoder.num_heads
        self.residual_attention = encoder.residual_attention
        seed = None if encoder.seed is None else encoder.seed + 10 * (index + 1)

        def dense(name, units, activation=None, fan_in=encoder.d_model):
            return keras.layers.Dense(units, activation=activation, name=name,
                                      dtype=self.dtype_policy, **encoder.initializers(fan_in))

        def dropout(name, rate, offset):
            return keras.layers.Dropout(rate, seed=None if seed is None else seed + offset,
                                        name=name, dtype=self.dtype_policy)

        def norm(name):
            if encoder.norm == "batch":  # BatchNorm1d(d_model) over (batch, patches): torch's
                return keras.layers.BatchNormalization(  # momentum 0.1 and eps
                    momentum=0.9, epsilon=1e-5, name=name, dtype=self.dtype_policy)
            return keras.layers.LayerNormalization(epsilon=1e-5, name=name, dtype=self.dtype_policy)

        self.query, self.key, self.value, self.attention_output = (
            dense(name, encoder.d_model) for name in ("query", "key", "value", "attention_output"))
        self.attention_dropout = dropout("attention_dropout", encoder.attention_dropout, 1)
        # The official code drops the attention output twice (to_out's Dropout, then
        # dropout_attn) and the feed-forward hidden and output; so does this layer.
        self.projection_dropout = dropout("projection_dropout", encoder.dropout, 2)
        self.residual_dropout = dropout("residual_dropout", encoder.dropout, 3)
        self.attention_norm = norm("attention_norm")
        self.feedforward_intermediate = dense("feedforward_intermediate", encoder.ff_dim,
                                              encoder.activation)
        self.feedforward_dropout = dropout("feedforward_dropout", encoder.dropout, 4)
        self.feedforward_output = dense("feedforward_output", encoder.d_model, fan_in=encoder.ff_dim)
        self.feedforward_residual_dropout = dropout("feedforward_residual_dropout", encoder.dropout, 5)
        self.feedforward_norm = norm("feedforward_norm")

    def build(self, input_shape):
        for layer in (self.query, self.key, self.value, self.attention_output,
                      self.attention_norm, self.feedforward_norm):
            layer.build(input_shape)
        self.feedforward_intermediate.build(input_shape)
        self.feedforward_output.build((*input_shape[:-1], self.feedforward_intermediate.units))

    def _heads(self, x):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.reshape(x, (batch, length, self.num_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))  # (batch, heads, patches, head_dim)

    def call(self, x, previous_scores=None, training=None):
        q, k, v = (self._heads(dense(x)) for dense in (self.query, self.key, self.value))
        scores = ops.einsum("bhqd,bhkd->bhqk", q, k) * (self.head_dim ** -0.5)  # (b, h, P, P)
        if self.residual_attention and previous_scores is not None:
            scores = scores + previous_scores  # RealFormer: the earlier layers' raw scores
        weights = ops.softmax(scores, axis=-1)  # (batch, heads, patches, patches)
        out = ops.einsum("bhqk,bhkd->bqhd", self.attention_dropout(weights, training=training), v)
        out = ops.reshape(out, ops.shape(x))  # (batch, patches, d_model)
        out = self.projection_dropout(self.attention_output(out), training=training)
        x = self.attention_norm(x + self.residual_dropout(out, training=training), training=training)
        out = self.feedforward_dropout(self.feedforward_intermediate(x), training=training)
        out = self.feedforward_residual_dropout(self.feedforward_output(out), training=training)
        x = self.feedforward_norm(x + out, training=training)  # (batch, patches, d_model)
        return x, scores, weights


@keras.saving.register_keras_serializable(package="kerasseq")
class PatchTSTEncoder(keras.layers.Layer):
    """PatchTST's channel-independent encoder: patches of a univariate series, a linear patch
    embedding, learned positions and a Transformer encoder with residual attention.

        x̃ = [x_1 .. x_L, x_L × stride]                   (end padding, ``padding_patch="end"``)
        p_n = x̃[n·S : n·S + P],  n = 0 .. N-1,   N = (L - P) // S + 2
        z⁰ = Dropout(p W_P + b_P + W_pos)                 (W_pos: (N, D), uniform ±0.02)
        for layer l = 1 .. depth (post-norm, ``TSTEncoderLayer``):
            s^l = Q^l K^lᵀ / √(D/h) + s^{l-1}             (residual attention; s⁰ = 0)
            z = Norm(z + Dropout(MultiHead(softmax(s^l) V^l)))
            z = Norm(z + Dropout(W_2 Dropout(GELU(z W_1 + b_1)) + b_2))

    with P = ``patch_len``, S = ``stride``, D = ``d_model``, h = ``num_heads`` and Norm a
    BatchNorm over the D features (statistics over the series and patches, the official
    default ``norm="BatchNorm"``) or a LayerNorm (``norm="layer"``).

    Input ``(batch * channels, time)``, each row one univariate series. Output ``(batch *
    channels, N, D)``; with the call argument ``return_attention_scores=True`` also the last
    layer's attention weights softmax(s^depth) ``(batch * channels, heads, N, N)``.

    Args:
        patch_len: P.
        stride: S.
        d_model: D.
        num_heads: h (D divisible by h).
        depth: number of encoder layers.
        ff_dim: width of the feed-forward network.
        dropout: rate of the dropout after the position embedding, on the attention output
            and in the feed-forward network.
        attention_dropout: rate of the dropout on the attention weights.
        activation: of the feed-forward network (exact GELU, as ``nn.GELU``).
        norm: ``"batch"`` (the official default) or ``"layer"``.
        residual_attention: add each layer's pre-softmax scores to the next layer's
            (``res_attention=True``, the official default).
        kernel_initializer / bias_initializer: of the dense layers.
        torch_init: initialise the dense layers as PyTorch's ``nn.Linear`` does, kernel and
            bias U(±1/√fan_in), as the official code is initialised (``build_patchtst`` sets
            it); ``kernel_initializer`` and ``bias_initializer`` are then unused.
        seed: seed of the dropout layers.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:
    >>> encoder = PatchTSTEncoder(16, 8, d_model=16, num_heads=4, ff_dim=128, dropout=0.3)
    >>> z = encoder(series)  # (batch * 7, 336) -> (batch * 7, 42, 16)
    >>> z, weights = encoder(series, return_attention_scores=True)  # weights (batch * 7, 4, 42, 42)

    References:
        Nie et al. 2023, "A time series is worth 64 words: Long-term forecasting with
        Transformers" (ICLR), §3.1, and the official ``layers/PatchTST_backbone.py``; He et
        al. 2020, "RealFormer: Transformer likes residual attention".
    """

    def __init__(self, patch_len: int = 16, stride: int = 8, d_model: int = 128,
                 num_heads: int = 16, depth: int = 3, ff_dim: int = 256, dropout: float = 0.0,
                 attention_dropout: float = 0.0, activation="gelu", norm: str = "batch",
                 residual_attention: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", torch_init: bool = False, seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("patch_len", patch_len), ("stride", stride), ("d_model", d_model),
                            ("num_heads", num_heads), ("depth", depth), ("ff_dim", ff_dim)):
            _positive_int(name, value)
        if d_model % num_heads:
            raise ValueError(f"Expected d_model to be divisible by num_heads={num_heads}. "
                             f"Received: d_model={d_model}")
        if norm not in ("batch", "layer"):
            raise ValueError(f"Expected norm to be 'batch' or 'layer'. Received: norm={norm!r}")
        self.patch_len, self.stride, self.d_model = patch_len, stride, d_model
        self.num_heads, self.depth, self.ff_dim = num_heads, depth, ff_dim
        self.dropout = _rate("dropout", dropout)
        self.attention_dropout = _rate("attention_dropout", attention_dropout)
        self.activation = keras.activations.get(activation)
        self.norm = norm
        self.residual_attention = bool(residual_attention)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.torch_init = bool(torch_init)
        self.seed = seed

    def initializers(self, fan_in: int) -> dict:
        """The kernel and bias initialisers of a dense layer with ``fan_in`` inputs (fresh
        objects: an initialiser is not shared between variables)."""
        if self.torch_init:
            return torch_linear_initializers(fan_in)
        return {kind: initializer.__class__.from_config(initializer.get_config())
                for kind, initializer in (("kernel_initializer", self.kernel_initializer),
                                          ("bias_initializer", self.bias_initializer))}

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError("Expected univariate series (batch * channels, time) with a known "
                             f"length. Received: input_shape={input_shape}")
        self.num_patches = num_patches(int(input_shape[-1]), self.patch_len, self.stride)
        # Patch n holds the padded steps n*S .. n*S + P - 1 (torch's unfold), gathered at once.
        self._patch_index = (np.arange(self.num_patches)[:, None] * self.stride
                             + np.arange(self.patch_len)[None, :]).astype("int32")  # (N, P)
        self.patch_embedding = keras.layers.Dense(
            self.d_model, name="patch_embedding", dtype=self.dtype_policy,
            **self.initializers(self.patch_len))
        self.patch_embedding.build((input_shape[0], self.num_patches, self.patch_len))
        self.position_embedding = self.add_weight(  # the official pe="zeros", learn_pe=True
            (self.num_patches, self.d_model), keras.initializers.RandomUniform(-0.02, 0.02),
            name="position_embedding")
        self.embedding_dropout = keras.layers.Dropout(self.dropout, seed=self.seed,
                                                      name="embedding_dropout", dtype=self.dtype_policy)
        shape = (input_shape[0], self.num_patches, self.d_model)
        self.encoder_layers = []
        for i in range(self.depth):
            layer = _TSTEncoderLayer(self, i, name=f"layer_{i}", dtype=self.dtype_policy)
            layer.build(shape)
            self.encoder_layers.append(layer)

    def patches(self, inputs):
        """``(batch, time)`` → the end-padded patches ``(batch, N, patch_len)``."""
        end = ops.repeat(inputs[:, -1:], self.stride, axis=1)  # (batch, stride)
        padded = ops.concatenate([inputs, end], axis=1)  # (batch, time + stride)
        return ops.take(padded, self._patch_index, axis=1)  # (batch, N, patch_len)

    def call(self, inputs, training=None, return_attention_scores=False):
        x = self.patch_embedding(self.patches(inputs))  # (batch, N, d_model)
        x = x + ops.cast(self.position_embedding, x.dtype)
        x = self.embedding_dropout(x, training=training)
        scores = weights = None
        for layer in self.encoder_layers:
            x, scores, weights = layer(x, scores, training=training)
        return [x, weights] if return_attention_scores else x

    def get_config(self):
        return {
            **super().get_config(),
            "patch_len": self.patch_len, "stride": self.stride, "d_model": self.d_model,
            "num_heads": self.num_heads, "depth": self.depth, "ff_dim": self.ff_dim,
            "dropout": self.dropout, "attention_dropout": self.attention_dropout,
            "activation": keras.activations.serialize(self.activation),
            "norm": self.norm, "residual_attention": self.residual_attention,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "torch_init": self.torch_init, "seed": self.seed,
        }
