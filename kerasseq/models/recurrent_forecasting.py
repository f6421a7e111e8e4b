"""The classic recurrent and time-delay forecasters of the long-horizon forecasting family:
NARX, the time-delay neural network (and its dilated WaveNet/TCN variant), and the LSTM/GRU
with a step-by-step decoder or a direct multi-horizon head.

Every builder returns a *forecaster*: ``(batch, input_length, channels)`` z-normalised
series in, ``(batch, horizon, targets)`` out, the targets being the last ``targets``
channels (the others are exogenous variables whose future is unknown). NARX and the decoder
RNN also build their *training model* (``teacher_forcing=True``): ``[history, future]`` in,
the same output computed open loop from the true delayed values; its core layer has a fixed
name, and :func:`forecaster_from_training_model` builds the closed-loop forecaster from it.
"""

from __future__ import annotations

from functools import partial

import keras

from kerasseq.layers.narx import NARX, RECURRENT_LAYERS, RNNEncoderDecoder

# Names of the core layers the training model and the forecaster share.
NARX_LAYER = "narx_core"
ENCODER_DECODER_LAYER = "encoder_decoder"
_TRAINING_SUFFIX = "_teacher_forcing"


def _inputs(input_length, horizon, channels, targets, teacher_forcing):
    for name, value in (("input_length", input_length), ("horizon", horizon),
                        ("channels", channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Expected a positive integer {name}. Received: {name}={value!r}")
    if targets is not None and not 1 <= targets <= channels:
        raise ValueError(f"Expected 1 <= targets <= channels={channels}. "
                         f"Received: targets={targets!r}")
    history = keras.Input((input_length, channels), name="history")
    future = keras.Input((horizon, channels), name="future") if teacher_forcing else None
    return history, future


def _model(core, history, future, name):
    """The training model (``future`` given) or the forecaster around ``core``."""
    if future is None:
        return keras.Model(history, core(history), name=name)
    return keras.Model([history, future], core([history, future]), name=name + _TRAINING_SUFFIX)


def build_narx(input_length: int, horizon: int, channels: int, targets: int | None = None, *,
               cell: str = "lstm", units: int = 64, target_delays: int = 2,
               input_delays: int = 2, teacher_forcing: bool = False,
               name: str = "narx") -> keras.Model:
    """NARX recurrent network (Lin et al. 1996): tapped delay lines of the targets and of the
    exogenous variables into a recurrent cell, ``ŷ_t = W cell([y_{t-1..t-dy}, x_{t-1..t-dx}],
    h_{t-1}) + b``; see :class:`~kerasseq.layers.NARX`.

    Args:
        input_length: steps of history in.
        horizon: steps forecast.
        channels: channels of the series.
        targets: the last ``targets`` channels are forecast; ``None``: all.
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"``.
        units: width of the recurrent state.
        target_delays, input_delays: taps of the target and exogenous delay lines.
        teacher_forcing: build the training model instead of the forecaster.
        name: the forecaster's name (the training model's is ``name + "_teacher_forcing"``).

    Returns:
        The forecaster ``(batch, input_length, channels) -> (batch, horizon, targets)``
        (closed loop: the targets' delay line holds its own predictions, the exogenous
        channels are held at their last value); with ``teacher_forcing=True`` the training
        model ``[history (batch, input_length, channels), future (batch, horizon,
        channels)] -> (batch, horizon, targets)`` (open loop on the true values).

    Example:
    >>> train = build_narx(336, 96, 7, 1, teacher_forcing=True)
    >>> train.compile("adam", "mse"); train.fit([x, future], future[..., -1:])
    >>> forecaster = forecaster_from_training_model(train)

    References:
        Lin, Horne, Tiňo and Giles 1996, "Learning long-term dependencies in NARX recurrent
        neural networks", IEEE Trans. Neural Networks 7(6).
    """
    history, future = _inputs(input_length, horizon, channels, targets, teacher_forcing)
    core = NARX(horizon, targets, cell, units, target_delays, input_delays, name=NARX_LAYER)
    return _model(core, history, future, name)


def tdnn_receptive_field(kernel_size: int, depth: int, dilated: bool = False) -> int:
    """Steps one output of the stacked convolutions sees: ``1 + (k - 1) Σ_i r_i``, ``r_i = 2**i``
    when dilated, else 1."""
    return 1 + (kernel_size - 1) * sum(2 ** i if dilated else 1 for i in range(depth))


def build_tdnn(input_length: int, horizon: int, channels: int, targets: int | None = None, *,
               filters: int = 64, kernel_size: int = 3, depth: int = 3, dilated: bool = False,
               dropout: float = 0.1, name: str = "tdnn") -> keras.Model:
    """Time-delay neural network (Waibel et al. 1989) with a direct multi-horizon head.

    ``depth`` causal convolutions over the delay window, ``z^i_t = ReLU(Σ_j W^i_j
    z^{i-1}_{t - j r_i} + b^i)`` with dilation ``r_i = 2**i`` when ``dilated`` (the WaveNet/TCN
    variant, van den Oord et al. 2016; Bai et al. 2018) else 1, each followed by dropout. The
    head ``Dense(horizon * targets)`` reads the last ``n = min(input_length, R)`` steps of the
    top layer flattened, ``R`` the receptive field (:func:`tdnn_receptive_field`): each of
    them has seen ``R`` steps, so the forecast depends on the last ``n + R - 1`` inputs only.

    Args:
        input_length, horizon, channels, targets: the forecasting contract (module docstring).
        filters: channels of every convolution.
        kernel_size: taps of every convolution.
        depth: stacked convolutions.
        dilated: dilation ``2**i`` at layer ``i``.
        dropout: rate after every convolution.
        name: model name.

    Returns:
        The forecaster ``(batch, input_length, channels) -> (batch, horizon, targets)``.

    Example:
    >>> model = build_tdnn(336, 96, 7, dilated=True, depth=6)

    References:
        Waibel, Hanazawa, Hinton, Shikano and Lang 1989, "Phoneme recognition using
        time-delay neural networks", IEEE Trans. ASSP 37(3).
        Bai, Kolter and Koltun 2018, "An empirical evaluation of generic convolutional and
        recurrent networks for sequence modeling", arXiv:1803.01271.
    """
    history, _ = _inputs(input_length, horizon, channels, targets, False)
    for arg, value in (("filters", filters), ("kernel_size", kernel_size), ("depth", depth)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Expected a positive integer {arg}. Received: {arg}={value!r}")
    k = targets or channels
    x = history
    for i in range(depth):
        x = keras.layers.Conv1D(filters, kernel_size, padding="causal",
                                dilation_rate=2 ** i if dilated else 1, activation="relu",
                                name=f"conv_{i}")(x)  # (batch, L, filters)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    last = min(input_length, tdnn_receptive_field(kernel_size, depth, dilated))
    if last < input_length:
        x = keras.layers.Cropping1D((input_length - last, 0), name="last_steps")(x)
    x = keras.layers.Flatten(name="flatten")(x)  # (batch, last * filters)
    x = keras.layers.Dense(horizon * k, name="head")(x)
    return keras.Model(history, keras.layers.Reshape((horizon, k), name="forecast")(x), name=name)


def build_rnn_forecaster(input_length: int, horizon: int, channels: int,
                         targets: int | None = None, *, cell: str = "lstm", units: int = 64,
                         depth: int = 1, head: str = "decoder", teacher_forcing: bool = False,
                         dropout: float = 0.0, name: str = "rnn_forecaster") -> keras.Model:
    """LSTM/GRU forecaster: a ``depth``-layer encoder over the window, then either a decoder
    rolling out the horizon step by step (``head="decoder"``, the seq2seq of Sutskever et
    al. 2014; see :class:`~kerasseq.layers.RNNEncoderDecoder`) or one dense layer
    ``ŷ = reshape(W h_{L-1} + b, (horizon, targets))`` on the encoder's last state
    (``head="direct"``, the multi-horizon direct strategy).

    Args:
        input_length, horizon, channels, targets: the forecasting contract (module docstring).
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"``.
        units: width of every recurrent layer.
        depth: stacked recurrent layers (encoder, and decoder).
        head: ``"decoder"`` or ``"direct"``.
        teacher_forcing: with ``head="decoder"``, build the training model (the decoder reads
            the true previous values); with ``"direct"`` it has no effect (the forecaster is
            its own training model).
        dropout: rate between stacked layers and before the head.
        name: the forecaster's name (the training model's is ``name + "_teacher_forcing"``).

    Returns:
        The forecaster ``(batch, input_length, channels) -> (batch, horizon, targets)``, or
        the training model ``[history, future] -> (batch, horizon, targets)``.

    Example:
    >>> direct = build_rnn_forecaster(336, 720, 7, cell="gru", head="direct")
    >>> train = build_rnn_forecaster(336, 96, 7, depth=2, teacher_forcing=True)

    References:
        Sutskever, Vinyals and Le 2014, "Sequence to sequence learning with neural networks",
        NeurIPS. Taieb et al. 2012, "A review and comparison of strategies for multi-step ahead
        time series forecasting", Expert Systems with Applications 39(8).
    """
    if head not in ("decoder", "direct"):
        raise ValueError(f"Expected head in ('decoder', 'direct'). Received: head={head!r}")
    history, future = _inputs(input_length, horizon, channels, targets,
                              teacher_forcing and head == "decoder")
    if head == "decoder":
        core = RNNEncoderDecoder(horizon, targets, cell, units, depth, dropout,
                                 name=ENCODER_DECODER_LAYER)
        return _model(core, history, future, name)
    if cell not in RECURRENT_LAYERS:
        raise ValueError(f"Expected cell in {list(RECURRENT_LAYERS)}. Received: cell={cell!r}")
    k = targets or channels
    x = history
    for i in range(depth):
        x = RECURRENT_LAYERS[cell](units, return_sequences=i < depth - 1, name=f"encoder_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    x = keras.layers.Dense(horizon * k, name="head")(x)  # (batch, horizon * targets)
    return keras.Model(history, keras.layers.Reshape((horizon, k), name="forecast")(x), name=name)


def forecaster_from_training_model(model: keras.Model) -> keras.Model:
    """The closed-loop forecaster sharing the core layer (and weights) of a training model
    of :func:`build_narx` or :func:`build_rnn_forecaster` (also one read back from a
    ``.keras`` file). A model with one input is already a forecaster and comes back as is.

    Returns:
        ``keras.Model`` ``(batch, input_length, channels) -> (batch, horizon, targets)``.

    Example:
    >>> train = keras.saving.load_model("narx_teacher_forcing.keras")
    >>> forecaster_from_training_model(train).predict(history)
    """
    if len(model.inputs) == 1:
        return model
    names = {layer.name for layer in model.layers}
    found = [n for n in (NARX_LAYER, ENCODER_DECODER_LAYER) if n in names]
    if not found:
        raise ValueError(f"Expected a training model with a layer named {NARX_LAYER!r} or "
                         f"{ENCODER_DECODER_LAYER!r}. Received: model {model.name!r} with "
                         f"layers {sorted(names)}")
    core = model.get_layer(found[0])
    history = keras.Input(tuple(model.inputs[0].shape[1:]), name="history")
    name = model.name.removesuffix(_TRAINING_SUFFIX)
    return keras.Model(history, core(history), name=name)


RECURRENT_FORECASTERS = {
    "narx": build_narx,
    "tdnn": build_tdnn,
    "lstm": partial(build_rnn_forecaster, cell="lstm"),
    "gru": partial(build_rnn_forecaster, cell="gru"),
}
