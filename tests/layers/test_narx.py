"""NARX and the RNN encoder-decoder: a step is the Keras cell on the hand-built delay lines,
the closed loop is teacher forcing on its own predictions (exogenous channels held), and
both modes pass the common layer test (TF and JAX)."""

import keras
import numpy as np
import pytest

from kerasseq.layers import NARX, RNNEncoderDecoder
from testing import run_layer_test

CELLS = ["lstm", "gru", "rnn"]


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _series(batch=2, steps=12, channels=3, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, steps, channels)).astype("float32")


def _own_future(history, forecast):
    """The "true future" a teacher-forced pass needs to reproduce a closed-loop ``forecast``:
    the exogenous channels held at their last value, the targets the forecast itself."""
    exogenous = history.shape[-1] - forecast.shape[-1]
    held = np.repeat(history[:, -1:, :exogenous], forecast.shape[1], axis=1)
    return np.concatenate([held, forecast], axis=-1)


# Each cell once, each mode once (a closed-loop call compiles its scan: slow eager on JAX).
@pytest.mark.parametrize("cell,teacher_forcing", [("lstm", True), ("gru", False), ("rnn", True)])
def test_narx_layer(cell, teacher_forcing, tmp_path):
    history, future = _series(steps=12), _series(steps=4, seed=1)
    data = [history, future] if teacher_forcing else history
    run_layer_test(NARX, {"horizon": 4, "targets": 1, "cell": cell, "units": 8,
                          "target_delays": 2, "input_delays": 3},
                   data, expected_output_shape=(2, 4, 1), expected_num_trainable_weights=5,
                   tmp_path=tmp_path, atol=1e-5)


@pytest.mark.parametrize("cell,teacher_forcing", [("gru", True), ("lstm", False)])
def test_encoder_decoder_layer(cell, teacher_forcing, tmp_path):
    history, future = _series(steps=12), _series(steps=4, seed=1)
    data = [history, future] if teacher_forcing else history
    # Encoder and decoder of 3 weights each, and the head's 2 (depth 2: the tests below).
    run_layer_test(RNNEncoderDecoder, {"horizon": 4, "cell": cell, "units": 8, "dropout": 0.1,
                                       "seed": 0},
                   data, expected_output_shape=(2, 4, 3), expected_num_trainable_weights=8,
                   tmp_path=tmp_path, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_narx_is_the_keras_cell_on_hand_built_delay_lines(cell):
    """Teacher forcing and closed loop against a Python loop over ``layer.rnn.cell`` and a
    NumPy head, the delay lines built by hand (dy = 2, dx = 3, d = 3, two exogenous channels)."""
    layer = NARX(horizon=4, targets=1, cell=cell, units=8, target_delays=2, input_delays=3)
    history, future = _series(steps=10), _series(steps=4, seed=1)
    teacher, forecast = _np(layer([history, future])), _np(layer(history))
    kernel, bias = (_np(w) for w in layer.head.weights)
    sizes = [8, 8] if cell == "lstm" else [8]

    def run(x, y):
        """One-step outputs of steps 3..13; while ``y`` is shorter than 14 steps (closed
        loop) each output is appended to it."""
        states = [np.zeros((2, s), "float32") for s in sizes]
        outputs = []
        for t in range(3, 14):
            u = np.concatenate([y[:, t - 1], y[:, t - 2], x[:, t - 1], x[:, t - 2], x[:, t - 3]],
                               axis=-1)
            h, states = layer.rnn.cell(u, states)
            states = [_np(s) for s in states]
            outputs.append(_np(h) @ kernel + bias)
            if y.shape[1] == t:
                y = np.concatenate([y, outputs[-1][:, None]], axis=1)
        return np.stack(outputs, axis=1)

    whole = np.concatenate([history, future], axis=1)
    np.testing.assert_allclose(teacher, run(whole[..., :2], whole[..., 2:])[:, -4:], atol=1e-5)
    np.testing.assert_allclose(_np(layer.open_loop(whole)), run(whole[..., :2], whole[..., 2:]),
                               atol=1e-5)
    held = np.concatenate([history[..., :2], np.repeat(history[:, -1:, :2], 4, axis=1)], axis=1)
    np.testing.assert_allclose(forecast, run(held, history[..., 2:])[:, -4:], atol=1e-5)


@pytest.mark.parametrize("kwargs", [
    {"cell": "lstm", "targets": 1, "target_delays": 2, "input_delays": 2},
    {"cell": "gru", "targets": 2, "target_delays": 1, "input_delays": 4},
    {"cell": "rnn", "targets": 1, "target_delays": 3, "input_delays": 0},
    {"cell": "lstm", "targets": None, "target_delays": 12, "input_delays": 2},  # L = d
])
def test_narx_closed_loop_is_teacher_forcing_on_its_own_forecast(kwargs):
    layer = NARX(horizon=5, units=8, **kwargs)
    history = _series(steps=12)
    forecast = _np(layer(history))
    own = _own_future(history, forecast)
    np.testing.assert_allclose(_np(layer([history, own])), forecast, atol=1e-5)
    if forecast.shape[-1] < 3 and kwargs["input_delays"] > 0:
        # The held exogenous values are what the closed loop reads: other values change it.
        moved = own.copy()
        moved[:, :, 0] += 1.0
        assert np.abs(_np(layer([history, moved])) - forecast)[:, 1:].min() > 1e-6
        np.testing.assert_allclose(_np(layer([history, moved]))[:, 0], forecast[:, 0], atol=1e-6)


@pytest.mark.parametrize("cell,depth,targets", [("lstm", 1, 1), ("gru", 2, None), ("rnn", 2, 2)])
def test_encoder_decoder_closed_loop_is_teacher_forcing_on_its_own_forecast(cell, depth, targets):
    layer = RNNEncoderDecoder(horizon=5, targets=targets, cell=cell, units=8, depth=depth)
    history = _series(steps=12)
    forecast = _np(layer(history))
    np.testing.assert_allclose(_np(layer([history, _own_future(history, forecast)])), forecast,
                               atol=1e-5)
    # The decoder reads the targets only, and the last future step not at all.
    scrambled = _own_future(history, forecast)
    scrambled[:, :, :3 - forecast.shape[-1]] = 5.0
    scrambled[:, -1] = -5.0
    np.testing.assert_allclose(_np(layer([history, scrambled])), forecast, atol=1e-5)


def test_encoder_decoder_is_the_keras_layers_by_hand():
    layer = RNNEncoderDecoder(horizon=3, targets=1, cell="lstm", units=8)
    history = _series(steps=12)
    forecast = _np(layer(history))
    _, h, c = layer.encoders[0](history)
    kernel, bias = (_np(w) for w in layer.head.weights)
    y, states = history[:, -1, 2:], [h, c]
    for t in range(3):
        out, states = layer.decoders[0].cell(y, states)
        y = _np(out) @ kernel + bias
        np.testing.assert_allclose(forecast[:, t], y, atol=1e-5)


def test_encoder_decoder_dropout_only_in_training():
    layer = RNNEncoderDecoder(horizon=4, units=8, dropout=0.5, seed=1)
    data = [_series(steps=12), _series(steps=4, seed=1)]
    assert np.allclose(_np(layer(data)), _np(layer(data, training=False)))
    assert not np.allclose(_np(layer(data, training=True)), _np(layer(data)))


def test_horizon_one_and_targets_none():
    history = _series(steps=6)
    for layer in (NARX(horizon=1, units=4), RNNEncoderDecoder(horizon=1, units=4)):
        forecast = _np(layer(history))
        assert forecast.shape == (2, 1, 3)
        np.testing.assert_allclose(_np(layer([history, forecast])), forecast, atol=1e-6)


def test_bad_arguments_are_named():
    for kwargs, name in (({"horizon": 0}, "horizon"), ({"cell": "tcn"}, "cell"),
                         ({"units": 0}, "units"), ({"targets": 0}, "targets")):
        for cls in (NARX, RNNEncoderDecoder):
            with pytest.raises(ValueError, match=name):
                cls(**{"horizon": 4, **kwargs})
    with pytest.raises(ValueError, match="target_delays"):
        NARX(4, target_delays=0)
    with pytest.raises(ValueError, match="input_delays"):
        NARX(4, input_delays=-1)
    with pytest.raises(ValueError, match="depth"):
        RNNEncoderDecoder(4, depth=0)
    with pytest.raises(ValueError, match="dropout"):
        RNNEncoderDecoder(4, dropout=1.0)
    with pytest.raises(ValueError, match="targets"):
        NARX(4, targets=4)(_series())
    with pytest.raises(ValueError, match="input steps"):
        NARX(4, target_delays=13)(_series())
    with pytest.raises(ValueError, match="future"):
        RNNEncoderDecoder(4)([_series(), _series(steps=5)])
