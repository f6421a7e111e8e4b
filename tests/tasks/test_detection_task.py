"""Detection end to end at tiny scale on real MNIST canvases: DETR and the centre-heatmap
baseline train, score with pycocotools, plot, and export a SavedModel whose ``detect`` serves
uint8 images without kerasseq; DETR also trains on JAX with TensorFlow and MLflow absent."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_cli

TINY = ["--epochs", "2", "--train_canvases", "96", "--batch_size", "16",
        "--validation_canvases", "32", "--test_canvases", "32", "--warmup_epochs", "0",
        "--learning_rate", "0.001", "--no_tracking"]
TINY_DETR = ["--d_model", "32", "--num_heads", "2", "--encoder_layers", "1", "--decoder_layers", "2",
             "--intermediate_dim", "64", "--num_queries", "8"]


@pytest.fixture(scope="module", params=[("detr", "tensorflow"), ("centernet", "tensorflow")], ids=str)
def detection_run(request, tmp_path_factory, data_dir):
    model, backend = request.param
    work = tmp_path_factory.mktemp(f"detection_{model}")
    extra = TINY_DETR if model == "detr" else []
    out = run_cli(["train", "detection", "--model", model, *TINY, *extra], cwd=work,
                  env={"KERAS_BACKEND": backend}, timeout=900).stdout
    return work, out, model


def test_tiny_run_trains_scores_and_plots(detection_run):
    work, out, model = detection_run
    run = work / "runs" / "detection"
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("test_AP", "test_AP50", "test_AP75", "test_AP_small", "test_AP_medium",
                "test_AR_100", "val_AP", "val_AP50"):
        assert 0.0 <= metrics[key] <= 1.0, (key, metrics[key])
    assert metrics["test_AP_large"] == -1.0  # digits of 16-48 px: no COCO-large object
    assert metrics["epochs"] == 2 and metrics["steps"] == 12
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    losses = state["history"]["loss"]
    assert np.isfinite(losses).all() and losses[1] < losses[0], losses  # it learns
    curve = json.loads((run / "ap_curve.json").read_text())
    assert [row["epoch"] for row in curve] == [1, 2]
    assert "Average Precision" in (run / "artifacts" / "coco_test.txt").read_text()
    pictures = ["loss_curve", "detections", "ap_curve"]
    if model == "detr":
        pictures += ["query_attention", "query_matching"]
        assert len(list((run / "matching").glob("epoch_*.npz"))) == 2
    for name in pictures:
        assert (run / "artifacts" / f"{name}.png").stat().st_size > 5000, name


SERVE = r"""
import sys, json
import numpy as np
sys.modules["kerasseq"] = None
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
images = np.load(sys.argv[2])
out = {}
for threshold in (0.0, 2.0):
    result = loaded.detect(tf.constant(images), tf.constant(threshold))
    out[str(threshold)] = {k: v.numpy().tolist() for k, v in result.items()}
print(json.dumps(out))
"""


def test_saved_model_detects_in_pixels_of_any_image_size(detection_run, tmp_path):
    """``detect`` takes uint8 images of another size and returns boxes in their pixels, best
    first; a threshold above every score leaves only padding."""
    work, _, _ = detection_run
    from kerasseq.data.detection import make_canvases

    canvases = make_canvases(2, seed=0, split="test")
    images = np.repeat(np.repeat(canvases.images, 2, axis=1), 2, axis=2)[..., None]  # 256 px
    np.save(tmp_path / "images.npy", images.astype(np.uint8))
    saved = work / "runs" / "detection" / "export" / "saved_model"
    result = subprocess.run([sys.executable, "-c", SERVE, str(saved), str(tmp_path / "images.npy")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    every, none = out["0.0"], out["2.0"]
    boxes, scores = np.array(every["boxes"]), np.array(every["scores"])
    assert boxes.shape[0] == 2 and boxes.shape[2] == 4
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    assert boxes.max() > 128 and boxes.max() <= 256  # in the 256-px input's pixels
    assert every["num_detections"] == [scores.shape[1]] * 2
    assert none["num_detections"] == [0, 0] and np.all(np.array(none["labels"]) == -1)
    assert np.all(np.array(none["boxes"]) == 0)


def test_detection_settings_are_checked(tmp_path):
    result = run_cli(["train", "detection", "--num_queries", "4", "--max_objects", "6"],
                     cwd=tmp_path, check=False)
    assert result.returncode != 0 and "--num_queries" in result.stderr


def test_detr_turns_xla_off_on_tensorflow_only():
    """SciPy's matching is a host call: XLA compiles it on JAX (pure_callback), not on TF."""
    import keras

    from kerasseq.tasks import get_task
    from kerasseq.training import Run

    task = get_task("detection")
    for model in ("detr", "centernet"):
        run = Run(config=task.config_class(model=model, jit_compile="true"), dir=None)
        expected = not (model == "detr" and keras.backend.backend() == "tensorflow")
        assert task.jit_compile(run) is expected
    run = Run(config=task.config_class(jit_compile="auto"), dir=None)
    assert task.jit_compile(run) == ("auto" if keras.backend.backend() != "tensorflow" else False)


WITHOUT_TENSORFLOW = """
import os, sys
os.environ["KERAS_BACKEND"] = "jax"
class Block:  # as on the GPU machine: JAX, no TensorFlow, no MLflow
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "mlflow"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)")
sys.meta_path.insert(0, Block())
from kerasseq.cli import main
assert main(["train", "detection", *sys.argv[1:]]) == 0
assert not {"tensorflow", "mlflow"} & set(sys.modules), {"tensorflow", "mlflow"} & set(sys.modules)
print("ok")
"""


def test_detr_trains_on_jax_without_tensorflow(tmp_path, data_dir):
    """The GPU machine's setting: DETR trains from the PyDataset canvases, scores, plots and
    writes ``model.keras`` (the SavedModel waits for ``kerasseq export`` on TensorFlow)."""
    result = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, *TINY, *TINY_DETR],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), (
        result.stdout[-3000:] + result.stderr[-3000:])
    assert "The SavedModel needs the TensorFlow backend" in result.stdout
    run = tmp_path / "runs" / "detection"
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("test_AP", "test_AP50", "test_AR_100", "val_AP"):
        assert 0.0 <= metrics[key] <= 1.0, (key, metrics[key])
    assert metrics["epochs"] == 2 and metrics["steps"] == 12
    losses = json.loads((run / "checkpoint" / "state.json").read_text())["history"]["loss"]
    assert np.isfinite(losses).all() and losses[1] < losses[0], losses
    assert (run / "export" / "model.keras").stat().st_size > 0
    assert not (run / "export" / "saved_model").exists()
    for name in ("loss_curve", "detections", "ap_curve", "query_attention"):
        assert (run / "artifacts" / f"{name}.png").exists(), name
