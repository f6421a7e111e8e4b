"""The exported SavedModel serves without kerasseq and matches the Keras model."""

import json
import subprocess
import sys

import keras
import numpy as np
import pandas as pd

from kerasseq.data import CharVocabulary

# Runs in a fresh interpreter where importing kerasseq is impossible.
SERVE_WITHOUT_KERASSEQ = r"""
import sys, json
sys.modules["kerasseq"] = None  # any attempt to import kerasseq now fails
import numpy as np, tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
ids = np.load(sys.argv[2])
np.save(sys.argv[3], loaded.serve(tf.constant(ids)).numpy())
text = loaded.sample(prompt=tf.constant("ROMEO:"), num_chars=tf.constant(40),
                     temperature=tf.constant(0.8)).numpy().decode()
try:
    loaded.sample(prompt=tf.constant("ROMEO ¿"), num_chars=tf.constant(5), temperature=tf.constant(1.0))
    error = ""
except tf.errors.InvalidArgumentError as exc:
    error = exc.message
print(json.dumps({"text": text, "error": error}))
"""


def test_saved_model_matches_keras_and_samples_without_kerasseq(tiny_run, tmp_path):
    export = tiny_run / "runs" / "charlm" / "export"
    vocab = CharVocabulary.load(tiny_run / "runs" / "charlm" / "vocab.json")
    ids = vocab.encode("First Citizen:\nBefore we proceed any further")[None]
    np.save(tmp_path / "ids.npy", ids)
    result = subprocess.run(
        [sys.executable, "-c", SERVE_WITHOUT_KERASSEQ, str(export / "saved_model"),
         str(tmp_path / "ids.npy"), str(tmp_path / "logits.npy")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])

    model = keras.saving.load_model(export / "model.keras")
    expected = keras.ops.convert_to_numpy(model(ids))
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"), expected, atol=1e-5)
    assert out["text"].startswith("ROMEO:") and len(out["text"]) == 46
    assert set(out["text"]) <= set(vocab.chars)
    assert "prompt has characters outside the vocabulary of the model" in out["error"]


def test_trained_on_jax_exported_on_tensorflow(tmp_path, data_dir):
    """The faster CPU backend for training (JAX), then the SavedModel from the checkpoint;
    registering it logs the served pyfunc model that training could not (no SavedModel)."""
    import mlflow

    from conftest import TINY, run_cli

    args = list(TINY)
    args[args.index("--epochs") + 1] = "1"
    local_store = {"MLFLOW_TRACKING_URI": ""}  # sqlite:///mlflow.db in tmp_path
    trained = run_cli(["train", "charlm", *args], cwd=tmp_path,
                      env={"KERAS_BACKEND": "jax", **local_store}).stdout
    assert "The SavedModel needs the TensorFlow backend" in trained
    exported = run_cli(["export", "charlm", "--register", "lm"], cwd=tmp_path,
                       env={"KERAS_BACKEND": "tensorflow", **local_store}).stdout
    assert "Registered lm version 1 (serving of MLflow run" in exported
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    lm = mlflow.pyfunc.load_model("models:/lm/1")
    (text,) = lm.predict(pd.DataFrame({"prompt": ["ROMEO:"]}), params={"num_chars": 10})
    assert text.startswith("ROMEO:") and len(text) == 16
    import tensorflow as tf

    export = tmp_path / "runs" / "charlm" / "export"
    ids = np.arange(12, dtype="int32").reshape(1, 12)
    loaded = tf.saved_model.load(str(export / "saved_model"))  # keep a reference: it owns the variables
    served = loaded.serve(tf.constant(ids)).numpy()
    expected = keras.ops.convert_to_numpy(keras.saving.load_model(export / "model.keras")(ids))
    np.testing.assert_allclose(served, expected, atol=1e-5)


def test_register_needs_a_tracked_run(tmp_path):
    from conftest import run_cli

    (tmp_path / "runs" / "charlm" / "checkpoint").mkdir(parents=True)
    (tmp_path / "runs" / "charlm" / "checkpoint" / "state.json").write_text(
        '{"epoch": 1, "step": 1, "config": {}, "history": {}, "mlflow_run_id": null}')
    result = run_cli(["export", "charlm", "--register", "lm"], cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "was trained with --no_tracking: it has no MLflow run" in result.stderr
