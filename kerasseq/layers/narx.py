"""Recurrent forecasters that train with teacher forcing and forecast in closed loop: NARX
(tapped delay lines of the targets fed back) and the RNN encoder-decoder (the previous
values fed to a decoder). One layer holds both modes, so the training model and the
forecaster built from it share its weights; the closed loop is a ``keras.ops.scan`` (a
``lax.scan`` on JAX, a ``tf.while_loop`` on TensorFlow), so a 720-step horizon compiles once
per step, not once per horizon step."""

from __future__ import annotations

import keras
from keras import ops

RECURRENT_LAYERS = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM,
                    "gru": keras.layers.GRU}


def _check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Expected an integer {name} >= {minimum}. Received: {name}={value!r}")


def _check_common(horizon, targets, cell, units):
    _check_int("horizon", horizon)
    if targets is not None:
        _check_int("targets", targets)
    if cell not in RECURRENT_LAYERS:
        raise ValueError(f"Expected cell in {list(RECURRENT_LAYERS)}. Received: cell={cell!r}")
    _check_int("units", units)


def _split_shapes(input_shape):
    """``(history shape, future shape or None)``: a call gets ``history`` (closed loop) or
    ``[history, future]`` (teacher forcing); a shape read back from a ``.keras`` file is a list."""
    if isinstance(input_shape[0], (list, tuple)):
        return tuple(input_shape[0]), tuple(input_shape[1])
    return tuple(input_shape), None


def _resolve_targets(targets, history_shape, future_shape, horizon, layer):
    """Number of forecast channels (the last ``targets`` of the input), with shape checks."""
    if len(history_shape) != 3 or history_shape[-1] is None:
        raise ValueError(f"Expected history (batch, time, channels) with known channels. "
                         f"Received: {layer} input_shape={history_shape}")
    channels = history_shape[-1]
    if targets is not None and targets > channels:
        raise ValueError(f"Expected targets <= channels={channels}. Received: targets={targets}")
    if future_shape is not None and (future_shape[-1] != channels
                                     or future_shape[1] not in (None, horizon)):
        raise ValueError(f"Expected future (batch, horizon={horizon}, channels={channels}). "
                         f"Received: future shape={future_shape}")
    return targets or channels


def _shift_in(buffer, value):
    """Delay line ``(batch, delays, n)``, newest first: push ``value`` (batch, n), drop the
    oldest."""
    if buffer.shape[1] == 1:
        return value[:, None]
    return ops.concatenate([value[:, None], buffer[:, :-1]], axis=1)


@keras.saving.register_keras_serializable(package="kerasseq")
class NARX(keras.layers.Layer):
    """Nonlinear autoregressive network with exogenous inputs (NARX), recurrent core.

    The last ``targets`` channels of the series are the targets ``y``, the others the
    exogenous variables ``x``. At step ``t`` a Keras cell (``SimpleRNN``, ``LSTM`` or ``GRU``)
    reads the tapped delay lines of both and a linear head predicts ``y_t``::

        u_t = [y_{t-1}, ..., y_{t-dy}, x_{t-1}, ..., x_{t-dx}]
        h_t = cell(u_t, h_{t-1}),    ŷ_t = W h_t + b

    (Lin et al.'s eq. 1 with the recurrent state of Siegelmann et al.'s NARX RNNs; the
    paper's ``u(t)`` at lag 0 is left out: the future of ``x`` is unknown when forecasting).
    The state starts at zero at ``t = d = max(dy, dx)`` and is warmed up over the input
    window, open loop.

    *Teacher forcing* (``call([history, future])``, open loop): over the window and the
    horizon the delay lines hold the true values; the predictions of the horizon steps are
    returned. :meth:`open_loop` gives the one-step predictions of the window too.

    *Closed loop* (``call(history)``): after the window the target delay line holds the
    model's own predictions ``ŷ``; the exogenous variables' future is unknown, so they are
    held at their last observed value ``x_{L-1}`` (their delay line fills with it). Feeding
    :meth:`call` with ``future = [x_{L-1} held, ŷ]`` under teacher forcing gives back ``ŷ``.

    Args:
        horizon: steps forecast in closed loop (and the length of ``future``).
        targets: how many of the last channels are forecast; ``None``: all.
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"`` (Elman).
        units: width of the recurrent state.
        target_delays: ``dy`` >= 1, taps of the target delay line.
        input_delays: ``dx`` >= 0, taps of the exogenous delay line (unused without
            exogenous channels).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: ``history`` (batch, L, channels) with ``L >= d``, or ``[history, future]``
            with ``future`` (batch, horizon, channels) the true future of every channel.

    Returns:
        ``(batch, horizon, targets)``.

    Example:
    >>> narx = NARX(horizon=24, targets=1, cell="gru", units=32, target_delays=4)
    >>> train_out = narx([history, future])  # (32, 96, 7), (32, 24, 7) -> (32, 24, 1)
    >>> forecast = narx(history)             # (32, 96, 7) -> (32, 24, 1)

    References:
        Lin, Horne, Tiňo and Giles 1996, "Learning long-term dependencies in NARX recurrent
        neural networks", IEEE Trans. Neural Networks 7(6).
        Siegelmann, Horne and Giles 1997, "Computational capabilities of recurrent NARX
        neural networks", IEEE Trans. Systems, Man, and Cybernetics B 27(2).
    """

    def __init__(self, horizon: int, targets: int | None = None, cell: str = "lstm",
                 units: int = 64, target_delays: int = 2, input_delays: int = 2, **kwargs):
        super().__init__(**kwargs)
        _check_common(horizon, targets, cell, units)
        _check_int("target_delays", target_delays)
        _check_int("input_delays", input_delays, minimum=0)
        self.horizon, self.targets, self.cell, self.units = horizon, targets, cell, units
        self.target_delays, self.input_delays = target_delays, input_delays

    def build(self, input_shape):
        history, future = _split_shapes(input_shape)
        k = _resolve_targets(self.targets, history, future, self.horizon, "NARX")
        self.num_targets, self.num_exogenous = k, history[-1] - k
        self.exogenous_delays = self.input_delays if self.num_exogenous else 0
        self.window = max(self.target_delays, self.exogenous_delays)
        if history[1] is not None and history[1] < self.window:
            raise ValueError(f"Expected at least max(target_delays, input_delays)={self.window} "
                             f"input steps. Received: history shape={history}")
        width = self.target_delays * k + self.exogenous_delays * self.num_exogenous
        self.rnn = RECURRENT_LAYERS[self.cell](self.units, return_sequences=True,
                                               return_state=True, name="rnn",
                                               dtype=self.dtype_policy)
        self.rnn.build((None, None, width))
        self.head = keras.layers.Dense(k, name="head", dtype=self.dtype_policy)
        self.head.build((None, self.units))

    def delay_lines(self, series):
        """The input ``u_t`` of every step ``t = d .. T`` of ``series`` (batch, T, channels):
        ``(batch, T - d + 1, dy * targets + dx * exogenous)`` (the last one is the input of
        the step after the series)."""
        d, n = self.window, self.num_exogenous

        def taps(z, delays):  # [z_{t-1}, ..., z_{t-delays}] for t = d .. T
            return [z[:, d - j: (1 - j) or None] for j in range(1, delays + 1)]

        lines = (taps(series[..., n:], self.target_delays)
                 + taps(series[..., :n], self.exogenous_delays))
        return ops.concatenate(lines, axis=-1) if len(lines) > 1 else lines[0]

    def open_loop(self, series):
        """One-step predictions of ``y_d .. y_{T-1}`` from the true past of ``series``
        (batch, T, channels): ``(batch, T - d, targets)``."""
        outputs = self.rnn(self.delay_lines(ops.cast(series, self.compute_dtype))[:, :-1])[0]
        return self.head(outputs)

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            history, future = inputs
            series = ops.concatenate([ops.cast(history, self.compute_dtype),
                                      ops.cast(future, self.compute_dtype)], axis=1)
            return self.open_loop(series)[:, -self.horizon:]  # (batch, horizon, targets)
        return self.forecast(inputs)

    def forecast(self, history):
        """Closed loop over ``horizon`` steps (see the class docstring): ``(batch, horizon,
        targets)``."""
        history = ops.cast(history, self.compute_dtype)  # (batch, L, channels)
        n, dy, dx = self.num_exogenous, self.target_delays, self.exogenous_delays
        outputs, *states = self.rnn(self.delay_lines(history))  # warm-up: steps d .. L
        first = self.head(outputs[:, -1])  # ŷ_L (batch, targets)
        if self.horizon == 1:
            return first[:, None]

        def line(past, newest, delays):  # [newest, past_{L-1}, past_{L-2}, ...] (batch, delays, n)
            return ops.flip(ops.concatenate([past, newest[:, None]], axis=1)[:, -delays:], axis=1)

        # Delay lines of step L + 1: (batch, dy, targets) and (batch, dx, exogenous).
        y_line = line(history[:, -dy:, n:], first, dy)
        x_last = history[:, -1, :n]  # held over the horizon
        x_line = [line(history[:, -dx:, :n], x_last, dx)] if dx else []

        def step(carry, _):
            states, y_line, *x_line = carry
            u = [ops.reshape(y_line, (-1, dy * self.num_targets))]
            if x_line:
                u.append(ops.reshape(x_line[0], (-1, dx * n)))
            h, states = self.rnn.cell(ops.concatenate(u, -1) if x_line else u[0], states)
            y = self.head(h)  # (batch, targets)
            x_line = [_shift_in(x_line[0], x_last)] if x_line else []
            carry = (states, _shift_in(y_line, y), *x_line)
            return carry, carry  # Keras' TF scan wants outputs shaped as the carry

        _, ys = ops.scan(step, (states, y_line, *x_line), length=self.horizon - 1)
        ys = ops.transpose(ys[1][:, :, 0], (1, 0, 2))  # newest taps: (batch, horizon - 1, targets)
        return ops.concatenate([first[:, None], ys], axis=1)

    def compute_output_shape(self, input_shape):
        history, _ = _split_shapes(input_shape)
        return (history[0], self.horizon, self.targets or history[-1])

    def get_config(self):
        return {**super().get_config(), "horizon": self.horizon, "targets": self.targets,
                "cell": self.cell, "units": self.units, "target_delays": self.target_delays,
                "input_delays": self.input_delays}


@keras.saving.register_keras_serializable(package="kerasseq")
class RNNEncoderDecoder(keras.layers.Layer):
    """Sequence-to-sequence RNN forecaster: an encoder reads the window, a decoder started
    from its final states rolls out the horizon one step at a time.

    With ``depth`` stacked layers ``l`` of a Keras cell, targets ``y`` (the last ``targets``
    channels) and the whole series ``s`` (all channels)::

        (h^l_{L-1}) = Encoder(s_0 .. s_{L-1})               # every layer's final states
        g^l_{L-1} = h^l_{L-1},   v_{L-1} = y_{L-1}          # the last observed value
        g^l_t = cell_l(g^{l-1}_t, g^l_{t-1}),  g^0_t = v_{t-1}
        ŷ_t = W g^depth_t + b,   t = L .. L + horizon - 1

    where the decoder's input ``v_{t-1}`` is the true ``y_{t-1}`` under teacher forcing
    (``call([history, future])``) and its own ``ŷ_{t-1}`` in closed loop (``call(history)``).
    The decoder reads the targets only: the exogenous channels' future is unknown.

    Args:
        horizon: steps decoded.
        targets: how many of the last channels are forecast; ``None``: all.
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"`` (Elman), for encoder and decoder.
        units: width of every recurrent layer.
        depth: stacked layers in the encoder and in the decoder (layer ``l`` of the decoder
            starts from the final states of layer ``l`` of the encoder).
        dropout: rate between stacked layers and before the head. The closed loop runs
            without it (it is an inference path).
        seed: seed of the dropout.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: ``history`` (batch, L, channels), or ``[history, future]`` with ``future``
            (batch, horizon, channels) the true future of every channel (the last step is
            not read).

    Returns:
        ``(batch, horizon, targets)``.

    Example:
    >>> core = RNNEncoderDecoder(horizon=24, targets=1, cell="lstm", units=64, depth=2)
    >>> train_out = core([history, future])  # (32, 96, 7), (32, 24, 7) -> (32, 24, 1)
    >>> forecast = core(history)             # (32, 96, 7) -> (32, 24, 1)

    References:
        Sutskever, Vinyals and Le 2014, "Sequence to sequence learning with neural
        networks", NeurIPS.
        Cho et al. 2014, "Learning phrase representations using RNN encoder-decoder for
        statistical machine translation", EMNLP.
    """

    def __init__(self, horizon: int, targets: int | None = None, cell: str = "lstm",
                 units: int = 64, depth: int = 1, dropout: float = 0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_common(horizon, targets, cell, units)
        _check_int("depth", depth)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"Expected 0 <= dropout < 1. Received: dropout={dropout!r}")
        self.horizon, self.targets, self.cell, self.units = horizon, targets, cell, units
        self.depth, self.dropout, self.seed = depth, float(dropout), seed

    def build(self, input_shape):
        history, future = _split_shapes(input_shape)
        k = _resolve_targets(self.targets, history, future, self.horizon, "RNNEncoderDecoder")
        self.num_targets, self.num_exogenous = k, history[-1] - k
        layer = lambda name, **kw: RECURRENT_LAYERS[self.cell](  # noqa: E731
            self.units, return_sequences=True, name=name, dtype=self.dtype_policy, **kw)
        self.encoders = [layer(f"encoder_{i}", return_state=True) for i in range(self.depth)]
        self.decoders = [layer(f"decoder_{i}") for i in range(self.depth)]
        for i in range(self.depth):
            self.encoders[i].build((None, None, self.units if i else history[-1]))
            self.decoders[i].build((None, None, self.units if i else k))
        self.drop = keras.layers.Dropout(self.dropout, seed=self.seed, name="dropout",
                                         dtype=self.dtype_policy) if self.dropout else None
        self.head = keras.layers.Dense(k, name="head", dtype=self.dtype_policy)
        self.head.build((None, self.units))

    def _dropout(self, x, training):
        return self.drop(x, training=training) if self.drop is not None else x

    def encode(self, history, training=None):
        """The final states of every encoder layer: ``[[h, c], ...]`` (LSTM) or ``[[h], ...]``."""
        x, states = history, []
        for i, encoder in enumerate(self.encoders):
            x, *final = encoder(self._dropout(x, training) if i else x)  # (batch, L, units)
            states.append(final)
        return states

    def call(self, inputs, training=None):
        if not isinstance(inputs, (list, tuple)):
            return self.forecast(inputs)
        history, future = (ops.cast(t, self.compute_dtype) for t in inputs)
        states = self.encode(history, training)
        n = self.num_exogenous
        # Decoder inputs y_{L-1}, y_L, ..., y_{L+H-2}: (batch, horizon, targets).
        x = ops.concatenate([history[:, -1:, n:], future[:, :-1, n:]], axis=1)
        for i, decoder in enumerate(self.decoders):
            x = decoder(self._dropout(x, training) if i else x, initial_state=states[i])
        return self.head(self._dropout(x, training))  # (batch, H, targets)

    def forecast(self, history):
        """Closed loop over ``horizon`` steps: ``(batch, horizon, targets)``."""
        history = ops.cast(history, self.compute_dtype)

        def step(carry, _):
            states, x = carry
            new_states = []
            for decoder, state in zip(self.decoders, states):
                x, state = decoder.cell(x, state)
                new_states.append(state)
            carry = (new_states, self.head(x))  # y: (batch, targets)
            return carry, carry  # Keras' TF scan wants outputs shaped as the carry

        init = (self.encode(history), history[:, -1, self.num_exogenous:])
        _, ys = ops.scan(step, init, length=self.horizon)
        return ops.transpose(ys[1], (1, 0, 2))  # (batch, horizon, targets)

    def compute_output_shape(self, input_shape):
        history, _ = _split_shapes(input_shape)
        return (history[0], self.horizon, self.targets or history[-1])

    def get_config(self):
        return {**super().get_config(), "horizon": self.horizon, "targets": self.targets,
                "cell": self.cell, "units": self.units, "depth": self.depth,
                "dropout": self.dropout, "seed": self.seed}
