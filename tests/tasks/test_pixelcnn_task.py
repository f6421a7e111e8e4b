"""Gated PixelCNN on binarised MNIST end to end at tiny scale on the real data, on TensorFlow
(through the CLI, tracked in a SQLite store) and on JAX without TensorFlow (in this process;
the JAX suite runs this file too): the test NLL in nats per image, the validation NLL per
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
from kerasseq.tasks import get_task, pixelcnn_config
from kerasseq.tasks.configs import PixelCNNConfig
from kerasseq.training import load_run

TINY = dict(num_layers=2, filters=8, first_kernel_size=5, conditional=True, epochs=2,
            steps_per_epoch=6, batch_size=16, learning_rate=0.01, validation_size=64,
            test_images=64, sample_images=1, completion_images=1)
TENSORFLOW = keras.backend.backend() == "tensorflow"
UNIFORM = 784 * math.log(2)  # nats per image of p = 1/2 everywhere


@pytest.fixture(scope="module")
def pixelcnn_run(tmp_path_factory, data_dir):
    return train_tiny("pixelcnn", TINY, tmp_path_factory.mktemp("pixelcnn"), "test_nll_nats")


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
        PixelCNNConfig(output="logistic_mixture")
    with pytest.raises(UserError, match="--test_images"):
        PixelCNNConfig(test_images=20000)
