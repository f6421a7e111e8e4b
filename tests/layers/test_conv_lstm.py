"""ConvLSTM: equal to keras.layers.ConvLSTM2D with its weights, and to a NumPy reference."""

import keras
import numpy as np
import pytest

from kerasseq.layers import ConvLSTM
from testing import run_layer_test

BATCH, FRAMES, SIZE, CHANNELS, FILTERS, KERNEL = 2, 4, 6, 3, 4, 3


def _data(seed=0):
    rng = np.random.default_rng(seed)
    frames = rng.normal(size=(BATCH, FRAMES, SIZE, SIZE, CHANNELS)).astype("float32")
    h, c = rng.normal(size=(2, BATCH, SIZE, SIZE, FILTERS)).astype("float32")
    return frames, [h, c]


def _pair(seed=0, **kwargs):
    """A ConvLSTM2D with random non-trivial weights and a ConvLSTM given the same weights."""
    keras_layer = keras.layers.ConvLSTM2D(FILTERS, KERNEL, padding="same", **kwargs)
    keras_layer.build((None, FRAMES, SIZE, SIZE, CHANNELS))
    rng = np.random.default_rng(seed)
    keras_layer.set_weights([rng.normal(scale=0.3, size=w.shape).astype("float32")
                             for w in keras_layer.get_weights()])
    ours = ConvLSTM(FILTERS, KERNEL, **kwargs)
    ours.build((None, FRAMES, SIZE, SIZE, CHANNELS))
    ours.set_weights(keras_layer.get_weights())
    return keras_layer, ours


def _numpy(outputs):
    return [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(outputs)]


@pytest.mark.parametrize("unroll", [True, False])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("with_state", [False, True])
def test_equals_keras_conv_lstm_2d(unroll, return_sequences, with_state):
    keras_layer, ours = _pair(return_sequences=return_sequences, return_state=True)
    ours = ConvLSTM.from_config({**ours.get_config(), "unroll": unroll})
    ours.build((None, FRAMES, SIZE, SIZE, CHANNELS))
    ours.set_weights(keras_layer.get_weights())
    frames, state = _data()
    state = state if with_state else None
    expected = _numpy(keras_layer(frames, initial_state=state))
    got = _numpy(ours(frames, initial_state=state))
    assert [g.shape for g in got] == [e.shape for e in expected]
    for g, e in zip(got, expected):  # output, last h, last c
        np.testing.assert_allclose(g, e, atol=1e-5)


@pytest.mark.parametrize("unroll", [True, False])
def test_zero_inputs_equal_keras_on_zero_frames_and_never_read_the_frames(unroll):
    keras_layer, ours = _pair(return_sequences=True, return_state=True)
    zero = ConvLSTM.from_config({**ours.get_config(), "zero_inputs": True, "unroll": unroll})
    zero.build((None, FRAMES, SIZE, SIZE, CHANNELS))
    zero.set_weights(keras_layer.get_weights())
    frames, state = _data(1)
    expected = _numpy(keras_layer(np.zeros_like(frames), initial_state=state))
    for g, e in zip(_numpy(zero(frames, initial_state=state)), expected):  # frames ignored
        np.testing.assert_allclose(g, e, atol=1e-5)
    no_state = _numpy(keras_layer(np.zeros_like(frames)))
    for g, e in zip(_numpy(zero(np.zeros_like(frames))), no_state):
        np.testing.assert_allclose(g, e, atol=1e-5)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _conv_same(x, kernel):
    """'same' 2-D correlation of (n, H, W, C) with an odd (k, k, C, F) kernel."""
    k = kernel.shape[0]
    padded = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))
    return np.einsum("nhwcij,ijcf->nhwf", windows, kernel)


def test_matches_a_numpy_reference_of_the_equations():
    _, ours = _pair(seed=2, return_sequences=True)
    kernel, recurrent, bias = ours.get_weights()
    frames, state = _data(2)
    h, c = state
    outputs = []
    for t in range(FRAMES):  # gates i, f, c, o as Keras
        z = _conv_same(frames[:, t], kernel) + _conv_same(h, recurrent) + bias
        i, f, g, o = np.split(z, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        outputs.append(h)
    np.testing.assert_allclose(_numpy(ours(frames, initial_state=state))[0],
                               np.stack(outputs, 1), atol=1e-5)


def test_weights_and_initializers_are_keras():
    keras_layer = keras.layers.ConvLSTM2D(FILTERS, KERNEL, padding="same")
    keras_layer.build((None, FRAMES, SIZE, SIZE, CHANNELS))
    ours = ConvLSTM(FILTERS, KERNEL)
    ours.build((None, FRAMES, SIZE, SIZE, CHANNELS))
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in keras_layer.get_weights()]
    assert [w.path.split("/")[-1] for w in ours.weights] == ["kernel", "recurrent_kernel", "bias"]
    np.testing.assert_array_equal(ours.get_weights()[2], np.repeat([0, 1, 0, 0], FILTERS))
    kernel, recurrent, _ = ours.get_weights()
    flat = recurrent.reshape(-1, 4 * FILTERS)  # orthogonal: orthonormal columns
    np.testing.assert_allclose(flat.T @ flat, np.eye(4 * FILTERS), atol=1e-5)
    limit = np.sqrt(6 / (KERNEL * KERNEL * (CHANNELS + 4 * FILTERS)))  # Glorot uniform
    assert np.abs(kernel).max() <= limit and kernel.std() > limit / 4


# (return_state is left to the forecaster's test: a model returning a layer's tuple comes back
# from a .keras file returning a list, which run_layer_test's comparison takes as a mismatch.)
@pytest.mark.parametrize("kwargs", [{"return_sequences": True},
                                    {"return_sequences": False, "unroll": False},
                                    {"return_sequences": True, "zero_inputs": True}])
def test_layer_contract(kwargs, tmp_path):
    frames, _ = _data()
    expected = (BATCH, FRAMES, SIZE, SIZE, FILTERS) if kwargs["return_sequences"] else \
        (BATCH, SIZE, SIZE, FILTERS)
    run_layer_test(ConvLSTM, {"filters": FILTERS, "kernel_size": KERNEL, **kwargs}, frames,
                   expected_output_shape=expected, expected_num_trainable_weights=3,
                   tmp_path=tmp_path, atol=1e-5)


@pytest.mark.parametrize("zero_inputs", [False, True])
def test_a_train_step_moves_the_weights_as_keras_does(zero_inputs):
    """One SGD step on the same data: the same weights after it as ConvLSTM2D's (with zero
    inputs both leave the input kernel alone: its gradient is zero)."""
    frames, (h, c) = _data(3)
    target = np.random.default_rng(4).normal(size=(BATCH, FRAMES, SIZE, SIZE, FILTERS))
    frames = np.zeros_like(frames) if zero_inputs else frames
    keras_layer, ours = _pair(seed=3, return_sequences=True)
    ours = ConvLSTM.from_config({**ours.get_config(), "zero_inputs": zero_inputs})
    weights = keras_layer.get_weights()
    trained = []
    for layer in (keras_layer, ours):
        inputs = [keras.Input((FRAMES, SIZE, SIZE, CHANNELS)), keras.Input((SIZE, SIZE, FILTERS)),
                  keras.Input((SIZE, SIZE, FILTERS))]
        model = keras.Model(inputs, layer(inputs[0], initial_state=inputs[1:]))
        layer.set_weights(weights)
        model.compile(keras.optimizers.SGD(0.5), "mse")
        model.train_on_batch([frames, h, c], target.astype("float32"))
        trained.append(layer.get_weights())
    for ours_trained, keras_trained in zip(trained[1], trained[0]):
        np.testing.assert_allclose(ours_trained, keras_trained, atol=1e-5)
    assert not np.allclose(trained[1][1], weights[1])  # the recurrent kernel learnt
    assert np.allclose(trained[1][0], weights[0]) == zero_inputs  # the input kernel iff inputs


def test_dynamic_frames_scan():
    inputs = keras.Input((None, SIZE, SIZE, CHANNELS))
    keras_layer, ours = _pair(return_sequences=True)
    model = keras.Model(inputs, ours(inputs))
    frames, _ = _data()
    np.testing.assert_allclose(_numpy(model(frames))[0], _numpy(keras_layer(frames))[0], atol=1e-5)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="filters"):
        ConvLSTM(0, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        ConvLSTM(4, (3, 3, 3))
    with pytest.raises(ValueError, match="unroll"):
        ConvLSTM(4, 3, unroll="yes")
    with pytest.raises(ValueError, match="static"):
        ConvLSTM(4, 3, unroll=True)(keras.Input((None, SIZE, SIZE, CHANNELS)))
    with pytest.raises(ValueError, match="height, width and channels"):
        ConvLSTM(4, 3).build((None, FRAMES, None, SIZE, CHANNELS))
