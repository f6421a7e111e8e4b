"""build_gated_pixelcnn, ImageNLL and sample_pixelcnn: shapes, the likelihood against NumPy,
causality of the whole (class-conditional) model, the .keras round trip, and sampling."""

import keras
import numpy as np
import pytest

from kerasseq.diagnostics.pixelcnn import expected_receptive_field, input_gradient
from kerasseq.losses.pixelcnn import ImageNLL
from kerasseq.models.pixelcnn import build_gated_pixelcnn, sample_pixelcnn
from testing import NumpyNormal


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_conditional_model_is_causal_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    NumpyNormal.reseed(0)  # with other draws a head ReLU can be dead on all three images
    model = build_gated_pixelcnn((9, 8, 1), num_layers=3, filters=4, num_classes=10,
                                 kernel_size=3, first_kernel_size=5,
                                 kernel_initializer=NumpyNormal())
    rng = np.random.default_rng(1)
    images = (rng.random((3, 9, 8, 1)) < 0.5).astype("float32")
    labels = np.array([1, 5, 9], "int32")
    logits = numpy(model([images, labels]))
    assert logits.shape == (3, 9, 8, 1)
    assert not np.allclose(logits, numpy(model([images, (labels + 1) % 10])))  # labels matter
    for pixel, grad in zip([(4, 3), (8, 7)], input_gradient(model, images, [(4, 3), (8, 7)],
                                                             labels=labels)):
        np.testing.assert_array_equal(grad[..., 0] > 0,
                                      expected_receptive_field(9, 8, pixel, 3, 3, 5))
    model.save(tmp_path / "pixelcnn.keras")
    loaded = keras.saving.load_model(tmp_path / "pixelcnn.keras")
    np.testing.assert_allclose(numpy(loaded([images, labels])), logits, atol=1e-5)
    loss = keras.losses.deserialize(keras.losses.serialize(ImageNLL("softmax256")))
    assert isinstance(loss, ImageNLL) and loss.output == "softmax256"


def test_image_nll_matches_numpy():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 4, 5, 1)).astype("float32")
    targets = (rng.random((2, 4, 5, 1)) < 0.5).astype("float32")
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    expected = -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).sum(axis=(1, 2, 3))
    assert float(ImageNLL()(targets, logits)) == pytest.approx(expected.mean(), rel=1e-5)
    levels = rng.normal(size=(2, 3, 3, 2, 256)).astype("float32")
    grey = rng.integers(0, 256, (2, 3, 3, 2)).astype("float32")
    log_p = levels - np.log(np.exp(levels.astype(np.float64)).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_p, grey.astype(int)[..., None], -1)
    assert float(ImageNLL("softmax256")(grey, levels)) == pytest.approx(
        -picked.sum(axis=(1, 2, 3, 4)).mean(), rel=1e-5)


def test_softmax256_colour_model_shapes():
    model = build_gated_pixelcnn((5, 4, 3), num_layers=2, filters=6, output="softmax256",
                                 first_kernel_size=3, kernel_initializer=NumpyNormal())
    assert numpy(model(np.full((2, 5, 4, 3), 128.0, "float32"))).shape == (2, 5, 4, 3, 256)


def test_sampling_draws_the_model_probabilities_and_keeps_the_given_rows():
    model = build_gated_pixelcnn((6, 6, 1), num_layers=1, filters=2, first_kernel_size=3,
                                 kernel_initializer="zeros")
    model.get_layer("logits").bias.assign(np.array([1.5], "float32"))  # p(1) = σ(1.5) = 0.818
    samples = sample_pixelcnn(model, 12, seed=3)
    assert set(np.unique(samples)) <= {0.0, 1.0}
    assert abs(samples.mean() - 1 / (1 + np.exp(-1.5))) < 0.07  # 432 draws: 3.5 σ
    np.testing.assert_array_equal(samples, sample_pixelcnn(model, 12, seed=3))
    given = np.full((2, 6, 6, 1), 0.0, "float32")
    given[:, :3] = 1.0
    given[:, 3:] = 7.0  # overwritten
    completed = sample_pixelcnn(model, images=given, start_row=3, seed=4)
    np.testing.assert_array_equal(completed[:, :3], 1.0)
    assert set(np.unique(completed[:, 3:])) <= {0.0, 1.0}


def test_builder_and_sampler_reject_bad_arguments():
    with pytest.raises(ValueError, match="output"):
        build_gated_pixelcnn((4, 4, 1), 1, 2, output="logistic")
    with pytest.raises(ValueError, match="image_shape"):
        build_gated_pixelcnn((4, 4), 1, 2)
    conditional = build_gated_pixelcnn((4, 4, 1), 1, 2, num_classes=3, first_kernel_size=3,
                                       kernel_initializer="zeros")
    with pytest.raises(ValueError, match="labels"):
        sample_pixelcnn(conditional, 2)
