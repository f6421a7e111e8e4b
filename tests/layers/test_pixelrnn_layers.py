"""RowLSTM and DiagonalBiLSTM: step-by-step NumPy references of the recurrences on tiny maps,
the receptive field by input gradients (Row LSTM: its triangle; Diagonal BiLSTM: every
earlier pixel), colour ordering, and the .keras round trip (TensorFlow and JAX)."""

import keras
import numpy as np
import pytest

from kerasseq.diagnostics.pixelcnn import input_gradient
from kerasseq.layers.pixelcnn import pixelcnn_mask
from kerasseq.layers.pixelrnn import DiagonalBiLSTM, RowLSTM, skew, unskew
from testing import NumpyNormal, run_layer_test

INIT = dict(kernel_initializer=NumpyNormal(), recurrent_initializer=NumpyNormal())


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def weights(layer):
    return {w.name: keras.ops.convert_to_numpy(w).astype(np.float64) for w in layer.weights}


def lstm(pre, c_prev):
    o, f, i, g = np.split(pre, 4, axis=-1)
    c = sigmoid(f) * c_prev + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def gate_mask(width, layer, channels):
    return np.concatenate([pixelcnn_mask((1, width), channels, layer.units, layer.mask_type,
                                         layer.color_channels)] * 4, axis=-1)[0]


def np_row_lstm(layer, x):
    """Row by row, pixel by pixel, with explicit sums over the kernel taps."""
    w, (n, height, width, _), u, r = weights(layer), x.shape, layer.units, layer.kernel_size // 2
    k_is = w["input_kernel"][0] * gate_mask(layer.kernel_size, layer, x.shape[-1])
    h = np.zeros((n, height, width, u))
    h_prev, c_prev = np.zeros((n, width, u)), np.zeros((n, width, u))
    for i in range(height):
        pre = np.zeros((n, width, 4 * u)) + w["bias"]
        for j in range(width):
            for t in range(layer.kernel_size):
                if 0 <= j + t - r < width:
                    pre[:, j] += x[:, i, j + t - r] @ k_is[t] + h_prev[:, j + t - r] @ w["recurrent_kernel"][t]
        h_prev, c_prev = lstm(pre, c_prev)
        h[:, i] = h_prev
    return h


def np_diagonal_direction(x, k_is, k_ss, bias):
    """One direction in image coordinates: the state at (i, j) from the pixel's input, the
    state above (i - 1, j) and the state to the left (i, j - 1), zero outside the image."""
    n, height, width, _ = x.shape
    u = k_ss.shape[1]
    h = np.zeros((n, height + 1, width + 1, u))  # a zero row above and column left
    c = np.zeros((n, height + 1, width + 1, u))
    for i in range(height):
        for j in range(width):
            pre = x[:, i, j] @ k_is + bias + h[:, i, j + 1] @ k_ss[0] + h[:, i + 1, j] @ k_ss[1]
            h[:, i + 1, j + 1], c[:, i + 1, j + 1] = lstm(pre, c[:, i + 1, j])
    return h[:, 1:, 1:]


def np_diagonal_bilstm(layer, x):
    w = weights(layer)
    mask = gate_mask(1, layer, x.shape[-1])[0]
    forward = np_diagonal_direction(x, w["forward_input_kernel"] * mask,
                                    w["forward_recurrent_kernel"], w["forward_bias"])
    backward = np_diagonal_direction(x[:, :, ::-1], w["backward_input_kernel"] * mask,
                                     w["backward_recurrent_kernel"], w["backward_bias"])[:, :, ::-1]
    shifted = np.zeros_like(backward)
    shifted[:, 1:] = backward[:, :-1]
    return forward + shifted


def test_skew_and_unskew():
    x = np.arange(2 * 3 * 4).reshape(1, 3, 4, 2).astype("float32")
    skewed = keras.ops.convert_to_numpy(skew(x))
    assert skewed.shape == (1, 3, 6, 2)
    np.testing.assert_array_equal(skewed[0, 2, 2:6], x[0, 2])
    assert (skewed[0, 1, [0, 5]] == 0).all() and (skewed[0, 2, :2] == 0).all()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(unskew(skewed, 4)), x)


@pytest.mark.parametrize("mask_type,colours", [("B", 3), ("A", 1)])
def test_row_lstm_matches_numpy(mask_type, colours):
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 3)).astype("float32")
    layer = RowLSTM(6 if colours == 3 else 4, kernel_size=3, mask_type=mask_type,
                    color_channels=colours, **INIT)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), np_row_lstm(layer, x),
                               atol=1e-5)


def test_diagonal_bilstm_matches_numpy():
    x = np.random.default_rng(1).normal(size=(2, 4, 5, 3)).astype("float32")
    layer = DiagonalBiLSTM(6, color_channels=3, **INIT)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), np_diagonal_bilstm(layer, x),
                               atol=1e-5)


@pytest.mark.parametrize("layer_cls,kwargs,weight_count", [
    (RowLSTM, dict(units=4, kernel_size=3, mask_type="A", color_channels=2), 3),
    (DiagonalBiLSTM, dict(units=4), 6)])
def test_pixel_lstm_layers(layer_cls, kwargs, weight_count, tmp_path):
    x = np.random.default_rng(2).normal(size=(2, 3, 4, 2)).astype("float32")
    run_layer_test(layer_cls, {**kwargs, **INIT}, x, expected_output_shape=(2, 3, 4, 4),
                   expected_num_trainable_weights=weight_count, tmp_path=tmp_path)


def row_lstm_field(height, width, pixel, r, mask_type):
    """Row i - d (d >= 1): the states at the columns j - d·r .. j + d·r (inside the image)
    and, from each, its input taps (the r to its left and, mask B, itself); row i at
    j - r .. j (.. j - 1 for mask A)."""
    i, j = pixel
    last = 0 if mask_type == "B" else -1
    seen = np.zeros((height, width), bool)
    seen[i, max(j - r, 0):j + last + 1] = True
    for d in range(1, i + 1):
        seen[i - d, max(j - (d + 1) * r, 0):min(j + d * r, width - 1) + last + 1] = True
    return seen


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_row_lstm_sees_its_triangle(mask_type):
    x = keras.Input((6, 9, 1))
    model = keras.Model(x, RowLSTM(2, 3, mask_type, **INIT)(x))
    images = np.random.default_rng(3).random((2, 6, 9, 1)).astype("float32")
    pixels = [(4, 4), (5, 0), (2, 8)]
    for pixel, grad in zip(pixels, input_gradient(model, images, pixels)):
        np.testing.assert_array_equal(grad[..., 0] > 0, row_lstm_field(6, 9, pixel, 1, mask_type))


def test_diagonal_bilstm_sees_every_earlier_pixel():
    x = keras.Input((5, 6, 1))
    model = keras.Model(x, DiagonalBiLSTM(2, **INIT)(x))
    images = np.random.default_rng(4).random((2, 5, 6, 1)).astype("float32")
    pixels = [(3, 0), (2, 4), (0, 5), (4, 5)]
    raster = np.arange(30).reshape(5, 6)
    for (i, j), grad in zip(pixels, input_gradient(model, images, pixels)):
        # mask B: the pixel itself and every earlier one (the whole rows above, all widths)
        np.testing.assert_array_equal(grad[..., 0] > 0, raster <= i * 6 + j)


@pytest.mark.parametrize("layer_cls", [RowLSTM, DiagonalBiLSTM])
def test_colour_groups_see_the_earlier_colours_of_the_pixel(layer_cls):
    x = keras.Input((3, 3, 3))
    model = keras.Model(x, layer_cls(3, mask_type="A", color_channels=3, **INIT)(x))
    images = np.random.default_rng(5).random((1, 3, 3, 3)).astype("float32")
    for colour, grad in enumerate(input_gradient(model, images, [(1, 1, c) for c in range(3)])):
        np.testing.assert_array_equal(grad[1, 1] > 0, np.arange(3) < colour)
        assert not (grad[1, 2] > 0).any() and not (grad[2] > 0).any()


def test_pixel_lstms_reject_bad_arguments():
    with pytest.raises(ValueError, match="odd int kernel_size"):
        RowLSTM(4, kernel_size=2)
    with pytest.raises(ValueError, match="divisible by color_channels"):
        DiagonalBiLSTM(4, color_channels=3)
    with pytest.raises(ValueError, match="known height and width"):
        RowLSTM(4).build((None, None, 5, 1))
