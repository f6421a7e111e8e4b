"""Long-horizon forecasters of multivariate series: DLinear, PatchTST and a vanilla
Transformer, all with one contract.

    input   (batch, input_length, channels)   float32, already z-normalised series
    output  (batch, horizon, targets)         the forecast of the LAST ``targets`` channels
                                              (``targets=None``: all channels)

Every builder's signature starts ``(input_length, horizon, channels, targets=None, *, ...)``;
:data:`FORECASTERS` names them for tasks and tests.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerasseq.layers.detr import ObjectQueries
from kerasseq.layers.forecasting import (PatchTSTEncoder, ReversibleInstanceNorm, SeriesDecomposition,
                                         torch_linear_initializers)
from kerasseq.layers.positional import SinusoidalPositionalEncoding
from kerasseq.layers.transformer import TransformerDecoderBlock, TransformerEncoderBlock


def _check(input_length, horizon, channels, targets):
    """The common arguments; returns the number of forecast channels."""
    for name, value in (("input_length", input_length), ("horizon", horizon),
                        ("channels", channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Expected `{name}` to be a positive integer. Received: {name}={value!r}")
    targets = channels if targets is None else targets
    if isinstance(targets, bool) or not isinstance(targets, int) or not 1 <= targets <= channels:
        raise ValueError(f"Expected targets to be None or an integer in [1, channels={channels}]. "
                         f"Received: targets={targets!r}")
    return targets


def _seed(seed, offset):
    return None if seed is None else seed + offset


def build_dlinear(input_length: int, horizon: int, channels: int, targets=None, *,
                  kernel_size: int = 25, individual: bool = False, quantiles=(),
                  name: str = "dlinear") -> keras.Model:
    """DLinear: a linear map of the seasonal part plus one of the trend.

        seasonal, trend = SeriesDecomposition(kernel_size)(x)
        ŷ[:, :, c] = W_s seasonal[:, :, c] + b_s + W_t trend[:, :, c] + b_t

    with W_s, W_t ``(horizon, input_length)`` maps over time, shared by the channels, or one
    pair per channel (``individual=True``, ``EinsumDense`` kernels ``(targets, input_length,
    horizon)``), initialised as PyTorch's ``nn.Linear``. As the official ``models/DLinear.py``:
    no normalisation. DLinear treats every channel on its own, so only the ``targets`` forecast
    channels are decomposed and mapped (the same forecasts as mapping all, then slicing).

    Args:
        input_length / horizon / channels / targets: the common contract (module docstring).
        kernel_size: of the moving average (odd).
        individual: one pair of linear maps per channel.
        quantiles: forecast these quantile levels instead of one value (pinball loss,
            :class:`~kerasseq.losses.PinballLoss`): the maps give ``horizon · Q`` outputs.
        name: of the model.

    Returns:
        A ``keras.Model`` ``(batch, input_length, channels)`` → ``(batch, horizon, targets)``
        (``(batch, horizon, targets, Q)`` with quantiles) with layers ``"decomposition"``,
        ``"linear_seasonal"`` and ``"linear_trend"``.

    Example:
    >>> model = build_dlinear(336, 96, 7)  # ETTh1, all channels

    References:
        Zeng et al. 2023, "Are Transformers effective for time series forecasting?" (AAAI);
        github.com/cure-lab/LTSF-Linear ``models/DLinear.py``.
    """
    targets = _check(input_length, horizon, channels, targets)
    inputs = keras.Input((input_length, channels), name="series")
    x = inputs if targets == channels else inputs[..., channels - targets:]  # (batch, L, targets)
    seasonal, trend = SeriesDecomposition(kernel_size, name="decomposition")(x)
    q = len(quantiles) or 1
    parts = []
    for part, tensor in (("seasonal", seasonal), ("trend", trend)):
        tensor = ops.transpose(tensor, (0, 2, 1))  # (batch, targets, L)
        initializers = torch_linear_initializers(input_length)  # fresh objects per layer
        if individual:
            linear = keras.layers.EinsumDense("bcl,clh->bch", (targets, horizon * q), bias_axes="ch",
                                              name=f"linear_{part}", **initializers)
        else:
            linear = keras.layers.Dense(horizon * q, name=f"linear_{part}", **initializers)
        parts.append(linear(tensor))  # (batch, targets, horizon · Q)
    if quantiles:
        y = ops.reshape(parts[0] + parts[1], (-1, targets, horizon, q))
        return keras.Model(inputs, ops.transpose(y, (0, 2, 1, 3)), name=name)  # (batch, H, T, Q)
    outputs = ops.transpose(parts[0] + parts[1], (0, 2, 1))  # (batch, horizon, targets)
    return keras.Model(inputs, outputs, name=name)


def build_patchtst(input_length: int, horizon: int, channels: int, targets=None, *,
                   patch_len: int = 16, stride: int = 8, d_model: int = 16, num_heads: int = 4,
                   depth: int = 3, ff_dim: int = 128, dropout: float = 0.3,
                   head_dropout: float = 0.0, revin: bool = True, revin_affine: bool = False,
                   seed=None, quantiles=(), name: str = "patchtst") -> keras.Model:
    """PatchTST/42 or /64 (supervised): RevIN, the channel-independent patch encoder and a
    flatten head shared by the channels.

        x̂, mean, std = RevIN(x)                                  (batch, L, C)
        z = PatchTSTEncoder(x̂ as batch·C univariate series)      (batch·C, N, d_model)
        ŷ = Dropout(W flatten(zᵀ) + b)                             (batch·C, horizon)
        y = RevIN⁻¹(ŷ as (batch, horizon, C))[..., C - targets:]

    flatten(zᵀ) reads z as ``(d_model, N)``, the official ``Flatten_Head`` order. The defaults
    are the official ETTh1/ETTh2 settings (``run_longExp.py`` with ``scripts/PatchTST/etth1.sh``:
    RevIN without its affine weights, ``--affine 0``; every dense layer initialised as
    ``nn.Linear``); ETTm1/ETTm2, Weather, Electricity and Traffic use
    ``d_model=128, num_heads=16, ff_dim=256, dropout=0.2``. All channels are encoded (their
    BatchNorm statistics are shared in training, as the official ``features="MS"``); the last
    ``targets`` are returned.

    Args:
        input_length / horizon / channels / targets: the common contract (module docstring).
        patch_len / stride / d_model / num_heads / depth / ff_dim / dropout: of the encoder
            (:class:`~kerasseq.layers.PatchTSTEncoder`).
        head_dropout: dropout after the head.
        revin: normalise each series with RevIN and de-normalise the forecast.
        revin_affine: give RevIN its learnable per-channel weight and bias (the official
            ``--affine 1``; off by default, as in the official scripts).
        seed: seed of the dropout layers.
        quantiles: forecast these quantile levels (the head gives ``horizon · Q`` outputs per
            channel, each de-normalised by RevIN): output ``(batch, horizon, targets, Q)``.
        name: of the model.

    Returns:
        A ``keras.Model`` ``(batch, input_length, channels)`` → ``(batch, horizon, targets)``;
        its layer ``"patchtst_encoder"`` is the encoder (:func:`patch_attention`).

    Example:
    >>> model = build_patchtst(336, 96, 7)  # PatchTST/42 on ETTh1

    References:
        Nie et al. 2023, "A time series is worth 64 words: Long-term forecasting with
        Transformers" (ICLR); github.com/yuqinie98/PatchTST ``PatchTST_supervised``.
    """
    targets = _check(input_length, horizon, channels, targets)
    if not 0.0 <= head_dropout < 1.0:
        raise ValueError(f"Expected 0 <= head_dropout < 1. Received: head_dropout={head_dropout!r}")
    inputs = keras.Input((input_length, channels), name="series")
    x = inputs
    if revin:
        revin_layer = ReversibleInstanceNorm(affine=revin_affine, name="revin")
        x, mean, std = revin_layer(x)
    x = ops.reshape(ops.transpose(x, (0, 2, 1)), (-1, input_length))  # (batch * C, L): row b*C + c
    z = PatchTSTEncoder(patch_len, stride, d_model=d_model, num_heads=num_heads, depth=depth,
                        ff_dim=ff_dim, dropout=dropout, torch_init=True, seed=seed,
                        name="patchtst_encoder")(x)
    z = keras.layers.Permute((2, 1), name="head_transpose")(z)  # (batch * C, d_model, N)
    z = keras.layers.Flatten(name="head_flatten")(z)  # (batch * C, d_model * N)
    q = len(quantiles) or 1
    z = keras.layers.Dense(horizon * q, name="head", **torch_linear_initializers(z.shape[-1]))(z)
    z = keras.layers.Dropout(head_dropout, seed=_seed(seed, 7919), name="head_dropout")(z)
    # (batch, horizon [· Q], C); with quantiles the H · Q outputs are step-major and RevIN's
    # per-channel statistics broadcast over them.
    y = ops.transpose(ops.reshape(z, (-1, channels, horizon * q)), (0, 2, 1))
    if revin:
        y = revin_layer.denormalize(y, mean, std)
    if targets < channels:
        y = y[..., channels - targets:]  # (batch, horizon [· Q], targets)
    if quantiles:
        y = ops.transpose(ops.reshape(y, (-1, horizon, q, targets)), (0, 1, 3, 2))  # (batch, H, T, Q)
    return keras.Model(inputs, y, name=name)


def patch_attention(model: keras.Model, inputs) -> np.ndarray:
    """The last encoder layer's attention weights of a :func:`build_patchtst` model on
    ``inputs`` ``(batch, input_length, channels)`` (inference mode), for attention maps.

    Returns:
        NumPy ``(batch, channels, heads, patches, patches)``; row i of a map holds patch i's
        weights over the patches (rows sum to 1).
    """
    encoder = model.get_layer("patchtst_encoder")
    series = keras.Model(model.input, encoder.input)(inputs, training=False)  # (batch * C, L)
    _, weights = encoder(series, training=False, return_attention_scores=True)
    weights = ops.convert_to_numpy(weights)  # (batch * C, heads, N, N)
    return weights.reshape(len(inputs), -1, *weights.shape[1:])


def build_transformer_forecaster(input_length: int, horizon: int, channels: int, targets=None,
                                 *, d_model: int = 64, num_heads: int = 4, depth: int = 2,
                                 ff_dim: int = 128, dropout: float = 0.1, head: str = "direct",
                                 revin: bool = True, seed=None,
                                 name: str = "transformer_forecaster") -> keras.Model:
    """A vanilla Transformer over the time steps (one token per step, the C channels embedded
    together), with a direct or an encoder-decoder head.

        x̂, mean, std = RevIN(x)
        h = Encoder^depth(Dropout(x̂ W_e + b_e + PE))               (batch, L, d_model)
        "direct":  ŷ = reshape(W flatten(h) + b)                   (batch, horizon, targets)
        "decoder": q = Decoder^depth(Q + PE, h);  ŷ = q W_o + b_o   (batch, horizon, targets)
        y = RevIN⁻¹(ŷ) with the statistics of the last ``targets`` channels

    PE is the sinusoidal encoding, Encoder/Decoder are post-LN
    :class:`~kerasseq.layers.TransformerEncoderBlock` / ``TransformerDecoderBlock`` and Q
    ``(horizon, d_model)`` are learned query vectors, one per forecast step, that
    cross-attend the encoded input (their self-attention is causal, as the decoder block's).

    Args:
        input_length / horizon / channels / targets: the common contract (module docstring).
        d_model / num_heads / depth / ff_dim: of the blocks (``depth`` encoder blocks, and as
            many decoder blocks with ``head="decoder"``).
        dropout: after the embedding and in the blocks.
        head: ``"direct"`` or ``"decoder"``.
        revin: normalise each series with RevIN (affine) and de-normalise the forecast.
        seed: seed of the dropout layers.
        name: of the model.

    Returns:
        A ``keras.Model`` ``(batch, input_length, channels)`` → ``(batch, horizon, targets)``.

    Example:
    >>> model = build_transformer_forecaster(96, 24, 7, targets=1, head="decoder")

    References:
        Vaswani et al. 2017, "Attention is all you need"; Zeng et al. 2023, "Are Transformers
        effective for time series forecasting?" (the baseline this is); Kim et al. 2022 (RevIN).
    """
    targets = _check(input_length, horizon, channels, targets)
    if head not in ("direct", "decoder"):
        raise ValueError(f"Expected head to be 'direct' or 'decoder'. Received: head={head!r}")
    inputs = keras.Input((input_length, channels), name="series")
    x = inputs
    if revin:
        revin_layer = ReversibleInstanceNorm(name="revin")
        x, mean, std = revin_layer(x)
    x = keras.layers.Dense(d_model, name="embedding")(x)  # (batch, L, d_model)
    x = SinusoidalPositionalEncoding(name="position_encoding")(x)
    x = keras.layers.Dropout(dropout, seed=_seed(seed, 0), name="embedding_dropout")(x)
    common = dict(num_heads=num_heads, intermediate_dim=ff_dim, dropout=dropout)
    for i in range(depth):
        x = TransformerEncoderBlock(**common, seed=_seed(seed, 10 * (i + 1)),
                                    name=f"encoder_block_{i}")(x)
    if head == "direct":
        y = keras.layers.Flatten(name="head_flatten")(x)  # (batch, L * d_model)
        y = keras.layers.Dense(horizon * targets, name="head")(y)
        y = keras.layers.Reshape((horizon, targets), name="head_reshape")(y)
    else:
        q = ObjectQueries(horizon, d_model, name="horizon_queries")(x)  # (batch, horizon, d_model)
        q = SinusoidalPositionalEncoding(name="query_position_encoding")(q)
        for i in range(depth):
            q = TransformerDecoderBlock(**common, seed=_seed(seed, 100 + 10 * i),
                                        name=f"decoder_block_{i}")([q, x])
        y = keras.layers.Dense(targets, name="head")(q)  # (batch, horizon, targets)
    if revin:
        y = revin_layer.denormalize(y, mean, std)
    return keras.Model(inputs, y, name=name)


# The registry of forecasters by name. The recurrent and time-delay baselines ("narx",
# "tdnn", "lstm", "gru") are added from their own module.
def with_revin(model: keras.Model, name: str | None = None) -> keras.Model:
    """``model`` (any forecaster of the common contract) between RevIN's normalisation of its
    input window and the de-normalisation of its forecast (the last ``targets`` channels'
    statistics), as PatchTST wraps its encoder: each window is scaled by its own mean and
    standard deviation, which takes the level shifts between the splits off the model.

    Example:
    >>> model = with_revin(build_tdnn(336, 96, 7))
    """
    inputs = keras.Input(model.input.shape[1:], name="series")
    revin = ReversibleInstanceNorm(name="revin")
    x, mean, std = revin(inputs)
    y = revin.denormalize(model(x), mean, std)
    return keras.Model(inputs, y, name=name or f"{model.name}_revin")


FORECASTERS = {
    "dlinear": build_dlinear,
    "patchtst": build_patchtst,
    "transformer": build_transformer_forecaster,
}
