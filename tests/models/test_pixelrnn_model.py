"""build_pixelrnn: shapes, the receptive field of the whole model by input gradients (causal;
Row LSTM's triangle, Diagonal BiLSTM's whole past context), the logistic mixture output's
pixel-level masking, the .keras round trip and sampling through sample_pixelcnn."""

import keras
import numpy as np
import pytest

from kerasseq.diagnostics.pixelcnn import input_gradient
from kerasseq.losses.pixelcnn import num_logistic_mixture_params
from kerasseq.models.pixelcnn import build_gated_pixelcnn, sample_pixelcnn
from kerasseq.models.pixelrnn import build_pixelrnn
from testing import NumpyNormal

INIT = dict(kernel_initializer=NumpyNormal())


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def diagonal_model_field(height, width, pixel, first_kernel_size):
    """Every earlier pixel, except the previous row's last one when it lies beyond the first
    (mask-A) convolution's reach of the row's pixels up to ``j``: the paper's construction
    feeds the right-to-left LSTM (shifted down a row) mask-A features, which never hold the
    last pixel of their own row."""
    i, j = pixel
    seen = np.arange(height * width).reshape(height, width) < i * width + j
    if i >= 1 and j + first_kernel_size // 2 < width - 1:
        seen[i - 1, width - 1] = False
    return seen


def test_diagonal_bilstm_model_sees_the_past_context_and_round_trips(tmp_path):
    model = build_pixelrnn((6, 7, 1), "diagonal_bilstm", num_layers=1, units=4,
                           first_kernel_size=3, **INIT)
    images = np.random.default_rng(0).random((3, 6, 7, 1)).astype("float32")
    pixels = [(3, 1), (4, 5), (0, 3), (5, 6)]
    for pixel, grad in zip(pixels, input_gradient(model, images, pixels)):
        np.testing.assert_array_equal(grad[..., 0] > 0, diagonal_model_field(6, 7, pixel, 3))
    logits = numpy(model(images))
    assert logits.shape == (3, 6, 7, 1)
    model.save(tmp_path / "pixelrnn.keras")
    loaded = keras.saving.load_model(tmp_path / "pixelrnn.keras")
    np.testing.assert_allclose(numpy(loaded(images)), logits, atol=1e-5)


def test_row_lstm_model_is_causal_with_a_triangle():
    model = build_pixelrnn((6, 9, 1), "row_lstm", num_layers=2, units=4, first_kernel_size=3,
                           **INIT)
    images = np.random.default_rng(1).random((3, 6, 9, 1)).astype("float32")
    seen = input_gradient(model, images, (4, 4))[..., 0] > 0
    # Row 4: the first convolution's reach plus one pixel per layer (1 + 2) to the left; the
    # row d above: every column up to 4 + d (the triangle, cut by the image's left edge).
    expected = np.zeros((6, 9), bool)
    expected[4, 1:4] = True
    for d in range(1, 5):
        expected[4 - d, :4 + d + 1] = True
    np.testing.assert_array_equal(seen, expected)


@pytest.mark.parametrize("builder", ["gated", "row_lstm"])
def test_logistic_mixture_output_hides_the_whole_pixel(builder):
    shape = (5, 5, 3)
    if builder == "gated":
        model = build_gated_pixelcnn(shape, 2, 6, output="logistic_mixture", num_mixtures=2,
                                     first_kernel_size=3, **INIT)
    else:
        model = build_pixelrnn(shape, "row_lstm", 1, 3, output="logistic_mixture",
                               num_mixtures=2, first_kernel_size=3, **INIT)
    assert model.outputs[0].shape[-1] == num_logistic_mixture_params(3, 2) == 20
    images = np.random.default_rng(2).integers(0, 256, (1, *shape)).astype("float32")
    grad = input_gradient(model, images, (2, 2))
    assert not (grad[2, 2] > 0).any() and not (grad[2, 3:] > 0).any() and not (grad[3:] > 0).any()
    assert (grad[2, 1] > 0).all() and (grad[1, 2] > 0).all()


def test_logistic_mixture_sampling_draws_levels_from_the_model():
    model = build_pixelrnn((3, 3, 3), "diagonal_bilstm", 1, 3, output="logistic_mixture",
                           num_mixtures=2, first_kernel_size=3, kernel_initializer="zeros")
    # every pixel: one component, means (-0.5, 0, 0.5), scale e^-6 (about 0.3 levels)
    levels = np.array([64.0, 128.0, 191.0])
    bias = np.zeros(20, "float32")
    bias[:2] = [10.0, -10.0]  # component 0 almost surely
    bias[2:8] = np.stack([levels / 127.5 - 1, [0.9] * 3], -1).reshape(-1)  # [c·K + k]
    bias[8:14] = -7.0  # scale e^-7: 0.12 levels
    bias[14:] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # no coupling: tanh(0)
    model.get_layer("logits").bias.assign(bias)
    samples = sample_pixelcnn(model, 2, seed=0, output="logistic_mixture", num_mixtures=2)
    np.testing.assert_allclose(samples, np.broadcast_to(levels, samples.shape), atol=1.0)
    # coupling: G's mean moves by α·x_R (α = tanh(2) for component 0), clipped to [-1, 1]
    bias[14] = 2.0
    model.get_layer("logits").bias.assign(bias)
    coupled = sample_pixelcnn(model, 2, seed=0, output="logistic_mixture", num_mixtures=2)
    green = (128.0 / 127.5 - 1 + np.tanh(2.0) * (64.0 / 127.5 - 1) + 1) * 127.5
    np.testing.assert_allclose(coupled[..., 1], round(green), atol=1.0)


def test_pixelrnn_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        build_pixelrnn((4, 4, 1), "grid_lstm")
    with pytest.raises(ValueError, match="output"):
        build_pixelrnn((4, 4, 1), output="logistic")
