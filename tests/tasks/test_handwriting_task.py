"""Handwriting prediction end to end at tiny scale on the real IAM-OnDB lines, on TensorFlow
(through the CLI, tracked in a SQLite store) and on JAX without TensorFlow (in this process;
the JAX suite runs this file too): the test nats per line against an independent NumPy
computation, the long-line report, the samples and heat-map figures, and on TensorFlow the
SavedModel's sampling endpoint."""

import json

import keras
import numpy as np
import pytest

from conftest import train_tiny
from kerasseq.data.handwriting import normalise
from kerasseq.errors import UserError
from kerasseq.tasks import get_task
from kerasseq.tasks.configs import HandwritingConfig
from kerasseq.training import load_run

TINY = dict(epochs=2, steps_per_epoch=3, train_splits="val2", batch_size=8, max_points=200,
            val_lines=16, test_lines=12, num_layers=2, units=16, num_components=3,
            sample_steps=40, samples_per_bias=1, learning_rate=0.005)
TENSORFLOW = keras.backend.backend() == "tensorflow"


@pytest.fixture(scope="module")
def handwriting_run(tmp_path_factory, data_dir):
    return train_tiny("handwriting", TINY, tmp_path_factory.mktemp("handwriting"), "test_nats_per_line")


def _numpy_nll(y_hat, target):
    """Graves' eq. 26 in NumPy (float64), summed over a line."""
    from scipy.special import log_softmax, logsumexp

    y_hat, target = y_hat.astype(np.float64), target.astype(np.float64)
    m = (y_hat.shape[-1] - 1) // 6
    part = lambda k: y_hat[:, k * m:(k + 1) * m]  # noqa: E731
    sx, sy, rho = np.exp(part(3)), np.exp(part(4)), np.tanh(part(5))
    dx, dy = (target[:, :1] - part(1)) / sx, (target[:, 1:2] - part(2)) / sy
    log_n = (-np.log(2 * np.pi * sx * sy * np.sqrt(1 - rho ** 2))
             - (dx ** 2 + dy ** 2 - 2 * rho * dx * dy) / (2 * (1 - rho ** 2)))
    mixture = -logsumexp(log_softmax(part(0), axis=-1) + log_n, axis=-1)
    e = 1 / (1 + np.exp(-y_hat[:, 6 * m]))
    return (mixture - np.log(np.where(target[:, 2] > 0.5, e, 1 - e))).sum()


def test_tiny_run_reports_test_nats_per_line(handwriting_run):
    run_dir, metrics = handwriting_run
    assert metrics["test_lines"] == 12 and metrics["epochs"] == 2 and metrics["steps"] == 6
    assert metrics["train_long_lines"] > 1000 and metrics["train_points_dropped"] > 0  # val2 at 200
    task = get_task("handwriting")
    run, model = load_run(task, run_dir)
    test, _ = task.split(run, ("test",), 12, whole=True)  # whole lines: never cut for the figure
    assert test.lengths.max() > 200
    # One call on the lines padded at their ends (the network is causal), scored line by line.
    lines = [normalise(test.line(i), run.scale) for i in range(len(test))]
    inputs = np.zeros((len(lines), max(map(len, lines)) - 1, 3), np.float32)
    for i, points in enumerate(lines):
        inputs[i, :len(points) - 1] = points[:-1]
    y_hat = keras.ops.convert_to_numpy(model(inputs))
    total = sum(_numpy_nll(y_hat[i, :len(p) - 1], p[1:]) for i, p in enumerate(lines))
    assert metrics["test_nats_per_line"] == pytest.approx(total / len(test), rel=1e-4)
    assert metrics["test_points"] == int((test.lengths - 1).sum())
    saved = json.loads((run_dir / "handwriting_scale.json").read_text())
    np.testing.assert_allclose(saved["scale"], run.scale)
    for name in ("samples.png", "density_heatmap.png", "loss_curve.png"):
        assert (run_dir / "artifacts" / name).stat().st_size > 5000
    text = task.sample(run, model, length=5, bias=0.5)
    assert len(text.splitlines()) == 6 and text.splitlines()[0] == "0 0 0"


@pytest.mark.skipif(not TENSORFLOW, reason="the SavedModel runs on TensorFlow")
def test_saved_model_samples_strokes(handwriting_run):
    import tensorflow as tf

    run_dir, _ = handwriting_run
    loaded = tf.saved_model.load(str(run_dir / "export" / "saved_model"))
    points = loaded.sample(tf.constant(2), tf.constant(30), tf.constant(0.5), tf.constant(4)).numpy()
    assert points.shape == (2, 30, 3) and np.isfinite(points).all()
    assert set(np.unique(points[..., 2])) <= {0.0, 1.0}
    again = loaded.sample(tf.constant(2), tf.constant(30), tf.constant(0.5), tf.constant(4)).numpy()
    np.testing.assert_array_equal(points, again)  # the seed decides
    assert np.abs(points[..., :2]).max() > 1.0  # raw tablet units, not normalised
    task = get_task("handwriting")
    run, model = load_run(task, run_dir)
    x = normalise(points[:1], run.scale)
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(),
                               keras.ops.convert_to_numpy(model(x)), atol=1e-4)


def test_settings_are_checked():
    with pytest.raises(UserError, match="--train_splits"):
        HandwritingConfig(train_splits="train,test")
    with pytest.raises(UserError, match="--sample_biases"):
        HandwritingConfig(sample_biases="0,x")
    with pytest.raises(UserError, match="--length_policy must be one of"):
        HandwritingConfig(length_policy="drop")
    with pytest.raises(UserError, match="--max_points"):
        HandwritingConfig(max_points=1)
    with pytest.raises(UserError, match="--lstm_derivative_clip must be >= 0"):
        HandwritingConfig(lstm_derivative_clip=-10.0, loss="per_line")
    with pytest.raises(UserError, match="need --loss per_line"):
        HandwritingConfig(output_derivative_clip=100.0)
    with pytest.raises(UserError, match="--optimizer must be one of"):
        HandwritingConfig(optimizer="sgd")
    assert HandwritingConfig().split_list == ("train", "val2")
