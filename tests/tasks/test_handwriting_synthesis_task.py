"""Handwriting synthesis (``--model synthesis``) end to end at tiny scale on the real IAM-OnDB
lines, on TensorFlow (through the CLI, tracked) and on JAX without TensorFlow (the JAX suite
runs this file too): the test nats per line against an independent NumPy computation, the
saved alphabet, the figures, ``sample --text --out`` and on TensorFlow the SavedModel's
text-to-strokes endpoint."""

import json

import keras
import numpy as np
import pytest

from conftest import train_tiny
from kerasseq.data.handwriting import encode_texts, normalise, split_lines
from kerasseq.errors import UserError
from kerasseq.tasks import get_task
from kerasseq.tasks.configs import HandwritingConfig
from kerasseq.training import load_run
from test_handwriting_task import _numpy_nll

TINY = dict(model="synthesis", epochs=1, steps_per_epoch=2, train_splits="val2", batch_size=8,
            max_points=300, length_policy="skip", bucket_width=2000, val_lines=0, test_lines=6,
            num_layers=2, units=8, num_components=2, window_components=2, sample_steps=30,
            samples_per_bias=1, sample_biases="0,1", text="a fox", learning_rate=0.005,
            optimizer="rmsprop", loss="per_line", lstm_derivative_clip=10.0,
            output_derivative_clip=100.0)  # Graves' training
TENSORFLOW = keras.backend.backend() == "tensorflow"


@pytest.fixture(scope="module")
def synthesis_run(tmp_path_factory, data_dir):
    return train_tiny("handwriting", TINY, tmp_path_factory.mktemp("synthesis"), "test_nats_per_line")


def test_tiny_synthesis_run(synthesis_run, tmp_path):
    run_dir, metrics = synthesis_run
    task = get_task("handwriting")
    run, model = load_run(task, run_dir)
    test, _ = task.split(run, ("test",), 6, whole=True)
    val2 = split_lines(task.lines(run), ("val2",))  # the alphabet: every line trained on
    alphabet = json.loads((run_dir / "handwriting_alphabet.json").read_text())["alphabet"]
    assert alphabet == run.alphabet == "".join(sorted(set("".join(val2.texts))))
    assert metrics["val2_lines_without_text"] == 0 and metrics["test_lines"] == 6
    assert metrics["train_long_lines"] == 1461  # skipped, counted: val2 lines over 300 points
    # Graves' training: his limits on one line's derivatives, divided by the batch of 8 lines
    # the per-line loss averages over; the clipped cells and the output clip are saved.
    assert model.get_layer("window_lstm").cell.derivative_clip == 10.0 / 8
    assert model.get_layer("lstm_2").cell.derivative_clip == 10.0 / 8
    assert model.get_layer("output_derivative_clip").limit == 100.0 / 8
    # Test NLL: the lines with their texts, scored line by line in NumPy.
    lines = [normalise(test.line(i), run.scale) for i in range(len(test))]
    inputs = np.zeros((len(lines), max(map(len, lines)) - 1, 3), np.float32)
    for i, points in enumerate(lines):
        inputs[i, :len(points) - 1] = points[:-1]
    ids, unknown = encode_texts(test.texts, run.alphabet)
    assert metrics["test_unknown_characters"] == unknown
    y_hat = model.predict([inputs, ids], verbose=0)  # compiled: an eager scan is slow on TensorFlow
    total = sum(_numpy_nll(y_hat[i, :len(p) - 1], p[1:]) for i, p in enumerate(lines))
    assert metrics["test_nats_per_line"] == pytest.approx(total / len(test), rel=1e-4)
    for name in ("samples.png", "window_weights.png", "primed_sample.png"):
        assert (run_dir / "artifacts" / name).stat().st_size > 5000
    # Sampling a text: SVG with one polyline per pen-down segment; unknown characters named.
    message = task.sample(run, model, text="a fox", length=25, bias=1.0, seed=1, out=tmp_path / "line.svg")
    written = int(message.split()[1])
    rows = task.sample(run, model, text="a fox", length=25, bias=1.0, seed=1).splitlines()
    assert len(rows) == written + 1 and rows[0] == "0 0 0"
    strokes = sum(1 for r in rows[:-1] if r.endswith(" 1")) + 1
    assert (tmp_path / "line.svg").read_text().count("<polyline") == strokes
    task.sample(run, model, text="a fox", length=25, out=tmp_path / "line.png")
    assert (tmp_path / "line.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(UserError, match="'€'"):
        task.sample(run, model, text="a f€x")
    with pytest.raises(UserError, match="--bias must be >= 0"):
        task.sample(run, model, text="a fox", bias=-1.0)


@pytest.mark.skipif(not TENSORFLOW, reason="the SavedModel runs on TensorFlow")
def test_saved_model_writes_a_text(synthesis_run):
    import tensorflow as tf

    run_dir, _ = synthesis_run
    loaded = tf.saved_model.load(str(run_dir / "export" / "saved_model"))
    args = lambda text, prime, seed: (tf.constant(text), tf.constant(prime, tf.float32),  # noqa: E731
                                      tf.constant(0.5), tf.constant(seed), tf.constant(20))
    out = loaded.write(*args("a fox", np.zeros((0, 3)), 4))
    points, length = out["points"].numpy(), int(out["length"])
    assert points.shape == (20, 3) and 1 <= length <= 20 and np.isfinite(points).all()
    assert np.abs(points[..., :2]).max() > 1.0  # raw tablet units
    np.testing.assert_array_equal(loaded.write(*args("a fox", np.zeros((0, 3)), 4))["points"], points)
    primed = loaded.write(*args("a fox", np.full((5, 3), [30.0, 5.0, 0.0]), 4))["points"].numpy()
    assert primed.shape == (20, 3) and not np.allclose(primed, points)
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside the alphabet"):
        loaded.write(*args("a f€x", np.zeros((0, 3)), 4))
    task = get_task("handwriting")
    run, model = load_run(task, run_dir)
    x, ids = normalise(points[None], run.scale), task.encode_text(run, "a fox")
    np.testing.assert_allclose(loaded.serve(tf.constant(x), tf.constant(ids)).numpy(),
                               keras.ops.convert_to_numpy(model([x, ids])), atol=1e-4)


def test_synthesis_settings_are_checked():
    with pytest.raises(UserError, match="--length_policy skip"):
        HandwritingConfig(model="synthesis")
    with pytest.raises(UserError, match="--text"):
        HandwritingConfig(model="synthesis", length_policy="skip", text=" ")
    with pytest.raises(UserError, match="--window_components"):
        HandwritingConfig(model="synthesis", length_policy="skip", window_components=0)
    assert HandwritingConfig(model="synthesis", max_points=0).window_components == 10
