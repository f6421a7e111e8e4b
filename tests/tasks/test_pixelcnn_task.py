"""Gated PixelCNN on binarised MNIST and a Row LSTM with the discretised logistic mixture on
CIFAR-10, end to end at tiny scale on the real data, on TensorFlow (through the CLI, tracked
in a SQLite store) and on JAX without TensorFlow (in this process; the JAX suite runs this
file too): the test NLL in nats per image (bits/dim on CIFAR-10), the validation NLL per
epoch, the samples, completions and receptive-field figures, and on TensorFlow the
SavedModel's sampling endpoint."""

import math

import keras
import numpy as np
import pytest

from conftest import train_tiny
from kerasseq.data import binarized_mnist
from kerasseq.errors import UserError
from kerasseq.losses import pixelcnn as pixelcnn_losses
from kerasseq.models import pixelrnn as pixelrnn_models
from kerasseq.tasks import get_task, pixelcnn_config
from kerasseq.tasks.configs import PixelCNNConfig
from kerasseq.training import load_run

TINY = dict(num_layers=2, filters=8, first_kernel_size=5, conditional=True, epochs=2,
            steps_per_epoch=6, batch_size=16, learning_rate=0.01, validation_size=64,
            test_images=64, sample_images=1, completion_images=1)
CIFAR = dict(dataset="cifar10", model="row_lstm", output="logistic_mixture", num_mixtures=2,
             num_layers=1, filters=4, first_kernel_size=3, epochs=2, steps_per_epoch=3,
             batch_size=8, learning_rate=0.01, validation_size=0, test_images=8,
             sample_images=0, completion_images=0)
TENSORFLOW = keras.backend.backend() == "tensorflow"
UNIFORM = 784 * math.log(2)  # nats per image of p = 1/2 everywhere


@pytest.fixture(scope="module")
def pixelcnn_run(tmp_path_factory, data_dir):
    return train_tiny("pixelcnn", TINY, tmp_path_factory.mktemp("pixelcnn"), "test_nll_nats")


@pytest.fixture(scope="module")
def cifar_run(tmp_path_factory, data_dir):
    return train_tiny("pixelcnn", CIFAR, tmp_path_factory.mktemp("pixelrnn_cifar"),
                      "test_bits_per_dim")


def test_cifar_row_lstm_reports_bits_per_dim_of_its_keras_loss(cifar_run):
    run_dir, metrics = cifar_run
    assert metrics["test_images"] == 8 and metrics["steps"] == 6 and "val_nll_nats" not in metrics
    assert metrics["test_bits_per_dim"] == pytest.approx(
        metrics["test_nll_nats"] / (32 * 32 * 3 * math.log(2)))
    task = get_task("pixelcnn")
    run, model = load_run(task, run_dir)
    test = task.batches(run, "test")
    model.compile(loss=pixelcnn_losses.DiscretizedLogisticMixtureNLL(2))
    assert model.evaluate(test, verbose=0) == pytest.approx(metrics["test_nll_nats"], rel=1e-4)
    keras.utils.set_random_seed(run.config.seed)  # the run's initial weights, untrained
    untrained = task.build_model(run)
    untrained.compile(loss=pixelcnn_losses.DiscretizedLogisticMixtureNLL(2))
    # nats per image on the same 8 test images (about 18,900 untrained: 8.9 bits/dim)
    assert metrics["test_nll_nats"] < untrained.evaluate(test, verbose=0) - 50
    assert (run_dir / "artifacts" / "receptive_field.png").stat().st_size > 3000


@pytest.mark.skipif(not TENSORFLOW, reason="the SavedModel runs on TensorFlow")
def test_saved_model_samples_cifar_pixels_from_the_mixture(cifar_run):
    import tensorflow as tf

    run_dir, _ = cifar_run
    loaded = tf.saved_model.load(str(run_dir / "export" / "saved_model"))
    images = loaded.sample(tf.constant(2), tf.constant(5)).numpy()
    assert images.shape == (2, 32, 32, 3) and images.min() >= 0 and images.max() <= 255
    np.testing.assert_array_equal(images, np.round(images))
    assert images.std() > 1  # drawn, not constant


def test_tiny_run_learns_and_reports_the_test_nll(pixelcnn_run):
    run_dir, metrics = pixelcnn_run
    assert metrics["test_images"] == 64 and metrics["epochs"] == 2 and metrics["steps"] == 12
    assert metrics["test_nll_nats"] < UNIFORM - 20  # learnt something in 12 steps
    assert metrics["test_bits_per_dim"] == pytest.approx(metrics["test_nll_nats"] / UNIFORM)
    for name in ("samples.png", "completions.png", "receptive_field.png", "loss_curve.png"):
        assert (run_dir / "artifacts" / name).stat().st_size > 3000, name


def test_reported_nll_equals_the_keras_loss_on_the_fixed_test_draw(pixelcnn_run):
    run_dir, metrics = pixelcnn_run
    task = get_task("pixelcnn")
    run, model = load_run(task, run_dir)
    model.compile(loss=pixelcnn_losses.ImageNLL())
    test = task.batches(run, "test")
    assert model.evaluate(test, verbose=0) == pytest.approx(metrics["test_nll_nats"], rel=1e-4)
    assert run.state["history"]["val_loss"][-1] == pytest.approx(metrics["val_nll_nats"], rel=1e-4)


@pytest.mark.skipif(not TENSORFLOW, reason="the SavedModel runs on TensorFlow")
def test_saved_model_samples_digits_pixel_by_pixel(pixelcnn_run):
    import tensorflow as tf

    run_dir, _ = pixelcnn_run
    loaded = tf.saved_model.load(str(run_dir / "export" / "saved_model"))
    images = loaded.sample(tf.constant([3, 7], tf.int32), tf.constant(5)).numpy()
    assert images.shape == (2, 28, 28, 1) and set(np.unique(images)) <= {0.0, 1.0}
    np.testing.assert_array_equal(images, loaded.sample(tf.constant([3, 7]), tf.constant(5)).numpy())
    logits = loaded.serve(tf.constant(images), tf.constant([3, 7])).numpy()
    assert logits.shape == (2, 28, 28, 1)


def test_settings_are_checked_and_mirror_the_package():
    assert pixelcnn_config.PIXELCNN_OUTPUTS == pixelcnn_losses.OUTPUTS
    assert pixelcnn_config.BINARIZATIONS == binarized_mnist.BINARIZATIONS
    with pytest.raises(UserError, match="--kernel_size must be odd"):
        PixelCNNConfig(kernel_size=4)
    with pytest.raises(UserError, match="--output must be one of"):
        PixelCNNConfig(output="logistic")
    with pytest.raises(UserError, match="--test_images"):
        PixelCNNConfig(test_images=20000)
    assert pixelcnn_config.PIXELRNN_KINDS == pixelrnn_models.PIXELRNN_KINDS
    with pytest.raises(UserError, match="needs an 8-bit output"):
        PixelCNNConfig(dataset="cifar10")
    with pytest.raises(UserError, match="--validation_size must be in \\[0, 49999\\]"):
        PixelCNNConfig(dataset="cifar10", output="softmax256", validation_size=50000)
    with pytest.raises(UserError, match="--conditional is for --model gated_pixelcnn"):
        PixelCNNConfig(model="row_lstm", conditional=True)
    with pytest.raises(UserError, match="multiple of the 3 colours"):
        PixelCNNConfig(dataset="cifar10", output="softmax256", filters=8)
