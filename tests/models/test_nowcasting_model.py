"""The ConvLSTM encoding-forecasting network: Shi et al.'s wiring, checked against NumPy."""

import keras
import numpy as np
import pytest

from kerasseq.models.nowcasting import build_convlstm_forecaster


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _conv_same(x, kernel):
    """'same' 2-D correlation of (n, H, W, C) with (k, k, C, F)."""
    k = kernel.shape[0]
    padded = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))  # (n,H,W,C,k,k)
    return np.einsum("nhwcij,ijcf->nhwf", windows, kernel)


def _convlstm(frames, weights, state):
    """Keras ConvLSTM2D's step (gates i, f, c, o) over frames (n, T, H, W, C)."""
    kernel, recurrent, bias = weights
    h, c = state
    outputs = []
    for t in range(frames.shape[1]):
        z = _conv_same(frames[:, t], kernel) + _conv_same(h, recurrent) + bias
        i, f, g, o = np.split(z, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, 1), (h, c)


def _reference(model, x, filters, output_frames, patch):
    n, J, H, W, C = x.shape
    b = patch
    seq = x.reshape(n, J, H // b, b, W // b, b, C).transpose(0, 1, 2, 4, 3, 5, 6)
    seq = seq.reshape(n, J, H // b, W // b, b * b * C)
    states = []
    for i, f in enumerate(filters):
        zero = np.zeros((n, H // b, W // b, f))
        seq, state = _convlstm(seq, model.get_layer(f"encoder_{i}").get_weights(), (zero, zero))
        states.append(state)
    seq = np.zeros((n, output_frames, H // b, W // b, 1))  # the forecaster sees no input
    hidden = []
    for i in range(len(filters)):
        seq, _ = _convlstm(seq, model.get_layer(f"forecaster_{i}").get_weights(), states[i])
        hidden.append(seq)
    kernel, bias = model.get_layer("output_1x1").get_weights()
    y = np.concatenate(hidden, -1) @ kernel + bias  # (n, K, h, w, b·b·C)
    y = y.reshape(n, output_frames, H // b, W // b, b, b, C).transpose(0, 1, 2, 4, 3, 5, 6)
    return _sigmoid(y.reshape(n, output_frames, H, W, C))


@pytest.mark.parametrize("layer", ["kerasseq", "keras"])
def test_encoder_forecaster_matches_a_numpy_reference_of_the_paper(layer):
    filters = (4, 3)
    model = build_convlstm_forecaster(3, 2, (8, 8, 1), filters=filters, kernel_size=3, patch_size=2,
                                      recurrent_layer=layer)
    rng = np.random.default_rng(0)
    for w in model.weights:  # non-trivial biases and weights everywhere
        w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))
    x = rng.random((2, 3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x)), _reference(model, x, filters, 2, 2),
                               atol=2e-5)


def test_shapes_parameters_and_options(tmp_path):
    model = build_convlstm_forecaster(4, 3, (16, 16, 1), filters=(6, 4), kernel_size=(5, 3),
                                      patch_size=4, output_activation=None)
    assert model.output_shape == (None, 3, 16, 16, 1)
    # ConvLSTM2D: k·k·(in + filters)·4·filters + 4·filters; 1×1 output: (6 + 4)·16 + 16.
    expected = sum(k * k * (i + f) * 4 * f + 4 * f
                   for k, i, f in [(5, 16, 6), (3, 6, 4), (5, 1, 6), (3, 6, 4)]) + 10 * 16 + 16
    assert model.count_params() == expected
    x = np.random.default_rng(0).random((2, 4, 16, 16, 1)).astype("float32")
    first = np.asarray(model(x))
    changed = x.copy()
    changed[:, 0] = 0  # the first observed frame reaches every forecast through the states
    assert not np.allclose(first[:, -1], np.asarray(model(changed))[:, -1])
    model.save(tmp_path / "forecaster.keras")
    import kerasseq.layers  # noqa: F401 (registers the custom layers)

    loaded = keras.saving.load_model(tmp_path / "forecaster.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)), first, atol=1e-6)
    plain = build_convlstm_forecaster(2, 2, (8, 8, 1), filters=(3,), kernel_size=3, patch_size=1)
    assert plain.output_shape == (None, 2, 8, 8, 1)


def test_kerasseq_conv_lstm_gives_the_keras_models_predictions(tmp_path):
    import kerasseq.layers  # noqa: F401 (registers the custom layers)

    args = dict(input_frames=3, output_frames=2, frame_shape=(8, 8, 1), filters=(4, 3),
                kernel_size=3, patch_size=2)
    reference = build_convlstm_forecaster(**args, recurrent_layer="keras")
    model = build_convlstm_forecaster(**args)  # kerasseq's ConvLSTM, the default
    assert [layer.name for layer in model.layers] == [layer.name for layer in reference.layers]
    assert isinstance(model.get_layer("encoder_0"), kerasseq.layers.ConvLSTM)
    assert model.get_layer("forecaster_0").zero_inputs
    assert not model.get_layer("forecaster_1").zero_inputs
    rng = np.random.default_rng(1)
    for w in reference.weights:
        w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))
    for layer in reference.layers:  # one to one by name
        model.get_layer(layer.name).set_weights(layer.get_weights())
    x = rng.random((2, 3, 8, 8, 1)).astype("float32")
    expected = np.asarray(reference(x))
    np.testing.assert_allclose(np.asarray(model(x)), expected, atol=1e-5)
    model.save(tmp_path / "kerasseq_forecaster.keras")
    loaded = keras.saving.load_model(tmp_path / "kerasseq_forecaster.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)), expected, atol=1e-5)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="patch_size"):
        build_convlstm_forecaster(2, 2, (10, 10, 1), filters=(4,), patch_size=4)
    with pytest.raises(ValueError, match="kernel_size"):
        build_convlstm_forecaster(2, 2, (8, 8, 1), filters=(4, 4), kernel_size=(3, 3, 3))
    with pytest.raises(ValueError, match="output_frames"):
        build_convlstm_forecaster(2, 0, (8, 8, 1))
    with pytest.raises(ValueError, match="recurrent_layer"):
        build_convlstm_forecaster(2, 2, (8, 8, 1), recurrent_layer="torch")


def test_the_task_offers_every_recurrent_layer():
    from kerasseq.models.nowcasting import RECURRENT_LAYERS
    from kerasseq.tasks.configs import NOWCAST_RECURRENT_LAYERS

    assert NOWCAST_RECURRENT_LAYERS == RECURRENT_LAYERS
