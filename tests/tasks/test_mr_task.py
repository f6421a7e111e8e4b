"""MR sentence classification end to end: 10-fold protocol (2 folds here), resume, MLflow
parent and fold runs, and the SavedModel that reads raw sentences."""

import json
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from conftest import run_cli

TINY_MR = ["--folds", "2", "--epochs", "3", "--embedding_dim", "24", "--filters", "16", "--learning_rate", "0.003",
           "--max_len", "40", "--batch_size", "50"]


@pytest.fixture(scope="module")
def mr_cv(tmp_path_factory, data_dir):
    work = tmp_path_factory.mktemp("mr_cv")
    out = run_cli(["train", "mr", *TINY_MR], cwd=work, env={"MLFLOW_TRACKING_URI": ""}).stdout
    return work, out


def test_cross_validation_reports_every_fold(mr_cv):
    work, out = mr_cv
    assert "2-fold cross-validation:" in out
    summary = json.loads((work / "runs" / "mr" / "cv_results.json").read_text())
    folds = summary["test_accuracy"]["folds"]
    assert len(folds) == 2 and all(0.62 < a <= 1 for a in folds)  # chance is 0.5
    assert summary["test_accuracy"]["mean"] == pytest.approx(sum(folds) / 2)
    for k in range(2):
        state = json.loads((work / "runs" / "mr" / f"fold_{k:02d}" / "checkpoint" / "state.json").read_text())
        assert state["config"]["fold"] == k


def test_cross_validation_resumes_finished_folds(mr_cv):
    work, _ = mr_cv
    out = run_cli(["train", "mr", *TINY_MR], cwd=work, env={"MLFLOW_TRACKING_URI": ""}).stdout
    assert out.count("finished earlier") == 2


def test_mlflow_parent_run_with_fold_children(mr_cv):
    work, _ = mr_cv
    client = MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mr")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    (parent,) = parents  # the resumed cross-validation continued its parent run
    assert 0.62 < parent.data.metrics["cv_mean_test_accuracy"] < 1
    assert "cv_std_test_accuracy" in parent.data.metrics and parent.data.params["fold"] == "all"
    assert len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(c.data.params["fold"] for c in children) == ["0", "1"]


SERVE = r"""
import sys, json
sys.modules["kerasseq"] = None
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
probs = loaded.serve(tf.constant(["A gripping, beautifully acted film!", "Dull and far too long."]))
print(json.dumps(probs.numpy().tolist()))
"""


def test_saved_model_reads_raw_sentences_without_kerasseq(mr_cv):
    work, _ = mr_cv
    saved = work / "runs" / "mr" / "fold_00" / "export" / "saved_model"
    result = subprocess.run([sys.executable, "-c", SERVE, str(saved)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    probs = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(probs) == 2 and all(abs(sum(p) - 1) < 1e-5 for p in probs)
    assert probs[0][1] > probs[1][1]  # the positive review is more positive


def test_a_cross_validation_folder_is_not_a_run(mr_cv):
    work, _ = mr_cv
    result = run_cli(["evaluate", "mr"], cwd=work, check=False)
    assert result.returncode == 2 and "--run_dir runs/mr/fold_00" in result.stderr
