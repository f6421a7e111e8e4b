"""Trajectory prediction end to end at tiny scale on real ETH/UCY windows, on TensorFlow and on
JAX without TensorFlow (the JAX suite runs this file too): train, score against the baselines,
plot, export, resume; the leave-one-scene-out table; the SavedModel's ``forecast``."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import run_cli
from kerasseq.errors import UserError
from kerasseq.tasks import get_task
from kerasseq.tasks.configs import TrajectoryConfig
from kerasseq.training import train

TINY = dict(epochs=2, batch_size=4, units=8, embedding_dim=4, samples=3, max_train_windows=12,
            max_val_windows=8, max_test_windows=6, plots=1)
TENSORFLOW = keras.backend.backend() == "tensorflow"


@pytest.fixture(scope="module")
def trajectory_run(tmp_path_factory, data_dir):
    """A real tiny run. On TensorFlow through the CLI, tracked in its own SQLite store (the
    model is logged with a signature of its two named inputs); on JAX in this process, where
    TensorFlow is blocked, untracked, and trained in closed loop (``--teacher_forcing false``)."""
    work = tmp_path_factory.mktemp("trajectories")
    if not TENSORFLOW:
        metrics = train(get_task("trajectories"),
                        TrajectoryConfig(test_scene="zara1", teacher_forcing=False, **TINY),
                        work / "run", tracking=False, verbose=0)
        return work / "run", metrics
    args = [f"--{k} {v}".split() for k, v in TINY.items()]
    run_cli(["train", "trajectories", "--test_scene", "zara1", "--run_dir", "run",
             *[a for pair in args for a in pair]], cwd=work,
            env={"MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}, timeout=900)
    metrics = json.loads((work / "run" / "metrics.json").read_text())
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("trajectories").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["final_model_ade"] == pytest.approx(metrics["model_ade"])
    return work / "run", metrics


def test_tiny_run_scores_the_model_and_the_baselines(trajectory_run):
    run, metrics = trajectory_run
    scores = json.loads((run / "trajectory_scores.json").read_text())
    assert scores["metrics"] == {k: v for k, v in metrics.items() if k not in ("epochs", "steps")}
    assert metrics["test_windows"] == 6 and metrics["test_tracks"] >= 6
    for method in ("model", "linear", "constant_velocity"):
        assert 0 < metrics[f"{method}_ade"] < metrics[f"{method}_fde"] < 20, method
    for method in ("model", "constant_velocity"):
        # Each pedestrian's own best sample is never worse than the window's common best.
        for e in ("ade", "fde"):
            assert 0 < metrics[f"{method}_{e}_best3_per_pedestrian"] <= metrics[f"{method}_{e}_best3"] < 20
    assert metrics["constant_velocity_ade_best3"] != metrics["constant_velocity_ade"]
    assert np.isfinite(metrics["val_nll"]) and metrics["epochs"] == 2
    for name in ("loss_curve.png", "forecast_0.png", "density_0.png"):
        assert (run / "artifacts" / name).stat().st_size > 2000, name
    assert (run / "export" / "model.keras").is_file()
    assert (run / "export" / "saved_model").is_dir() == TENSORFLOW


def test_all_scenes_run_one_fold_each_and_write_the_table(tmp_path, monkeypatch):
    """``--test_scene all``: one run per held-out scene through the shared cross-validation
    (each fold's training is what the fixture above tests; here it is stubbed), then the table
    and the bars."""
    from kerasseq import training
    from kerasseq.crossval import cross_validate

    task = get_task("trajectories")
    config = TrajectoryConfig(test_scene="all", **TINY)
    assert [name for name, _ in task.folds(config)] == ["eth", "hotel", "univ", "zara1", "zara2"]
    assert task.folds(TrajectoryConfig(test_scene="eth")) is None
    trained = []

    def fake_train(task, config, run_dir, **kwargs):
        trained.append((config.test_scene, run_dir.name))
        k = len(trained)
        run_dir.mkdir(parents=True)
        return {f"{m}_{e}{s}": k * (1.0 if e == "ade" else 2.0) + i / 10
                for i, m in enumerate(("model", "linear", "constant_velocity"))
                for e in ("ade", "fde") for s in ("", "_best3")}

    monkeypatch.setattr(training, "train", fake_train)
    summary = cross_validate(task, config, tmp_path / "all", tracking=False, verbose=0)
    assert trained == [(s, s) for s in ("eth", "hotel", "univ", "zara1", "zara2")]
    table = (tmp_path / "all" / "trajectory_table.md").read_text().splitlines()
    assert table[2] == "| method | eth | hotel | univ | zara1 | zara2 | AVG |"
    # constant velocity: ADE k + 0.2, FDE 2k + 0.2 for fold k = 1..5; AVG over the scenes.
    assert table[5] == ("| constant_velocity | 1.20 / 2.20 | 2.20 / 4.20 | 3.20 / 6.20 | "
                        "4.20 / 8.20 | 5.20 / 10.20 | 3.20 / 6.20 |")
    assert table[6] == ("| social_lstm | 1.00 / 2.00 | 2.00 / 4.00 | 3.00 / 6.00 | 4.00 / 8.00 "
                        "| 5.00 / 10.00 | 3.00 / 6.00 |")
    assert "best of 3" in table[8] and "| linear |" not in "\n".join(table[8:])
    assert summary["model_ade"]["mean"] == pytest.approx(3.0)
    assert (tmp_path / "all" / "trajectory_errors.png").stat().st_size > 2000
    with pytest.raises(UserError, match="one model per scene"):
        task.windows(type("Run", (), {"config": config})(), "test")


SERVE = r"""
import sys, json
import numpy as np
sys.modules["kerasseq"] = None
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
observed = np.load(sys.argv[2])
out = loaded.forecast(tf.constant(observed), tf.ones(observed.shape[:2]))
print(json.dumps({k: v.numpy().tolist() for k, v in out.items()}))
"""


@pytest.mark.skipif(not TENSORFLOW, reason="a SavedModel needs TensorFlow")
def test_saved_model_forecasts_one_window(trajectory_run, tmp_path):
    """``forecast`` takes one window's observed positions [P, 8, 2] and its mask, and returns
    [P, 12, 2] positions and [P, 12, 5] Gaussians, equal to the exported Keras forecaster."""
    run, _ = trajectory_run
    import kerasseq.layers  # noqa: F401 (registers the custom layers)

    observed = np.cumsum(np.random.default_rng(0).normal(0.4, 0.1, (3, 8, 2)), axis=1).astype("float32")
    np.save(tmp_path / "observed.npy", observed)
    result = subprocess.run([sys.executable, "-c", SERVE, str(run / "export" / "saved_model"),
                             str(tmp_path / "observed.npy")], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    served = {k: np.array(v, "float32") for k, v in json.loads(result.stdout.strip().splitlines()[-1]).items()}
    assert served["positions"].shape == (3, 12, 2) and served["gaussians"].shape == (3, 12, 5)
    model = keras.saving.load_model(run / "export" / "model.keras")
    expected = model([observed[None], np.ones((1, 3, 8), "float32")])
    for key in ("positions", "gaussians"):
        np.testing.assert_allclose(served[key], np.asarray(expected[key])[0], atol=1e-5)
    assert (served["gaussians"][..., 2:4] > 0).all() and (np.abs(served["gaussians"][..., 4]) < 1).all()


def test_settings_are_checked():
    with pytest.raises(UserError, match="test_scene"):
        TrajectoryConfig(test_scene="zara3")
    with pytest.raises(UserError, match="neighborhood"):
        TrajectoryConfig(neighborhood=0.0)
    with pytest.raises(UserError, match="samples"):
        TrajectoryConfig(samples=0)
    with pytest.raises(UserError, match="max_val_windows"):
        TrajectoryConfig(max_val_windows=-1)


def test_the_table_script_puts_several_models_side_by_side(tmp_path, capsys):
    import runpy

    from conftest import REPO

    script = runpy.run_path(str(REPO / "pipelines" / "trajectory_table.py"))

    for label, shift in (("a", 0.0), ("b", 0.5)):
        for k, scene in enumerate(("eth", "hotel")):
            (tmp_path / label / scene).mkdir(parents=True)
            metrics = {f"{m}_{e}{s}": 1.0 + k + (shift if m == "model" else 0.0)
                       for m in ("model", "linear", "constant_velocity")
                       for e in ("ade", "fde") for s in ("", "_best20")}
            (tmp_path / label / scene / "metrics.json").write_text(json.dumps(metrics))
    assert script["main"]([f"S-LSTM={tmp_path / 'a'}", f"LSTM={tmp_path / 'b'}", "--out",
                           str(tmp_path / "out")]) == 0
    assert "trajectory_table.md" in capsys.readouterr().out
    table = (tmp_path / "out" / "trajectory_table.md").read_text()
    assert "| S-LSTM | 1.00 / 1.00 | 2.00 / 2.00 | 1.50 / 1.50 |" in table
    assert "| LSTM | 1.50 / 1.50 | 2.50 / 2.50 | 2.00 / 2.00 |" in table
    assert table.count("| constant_velocity |") == 2 and table.count("| linear |") == 1
    # A fold evaluated again (`kerasseq evaluate` rewrites trajectory_scores.json) counts as such.
    rescored = {k: 9.0 for k in json.loads((tmp_path / "a" / "eth" / "metrics.json").read_text())}
    (tmp_path / "a" / "eth" / "trajectory_scores.json").write_text(json.dumps({"metrics": rescored}))
    assert script["main"]([f"S-LSTM={tmp_path / 'a'}", "--out", str(tmp_path / "again")]) == 0
    assert "| S-LSTM | 9.00 / 9.00 | 2.00 / 2.00 |" in (tmp_path / "again" / "trajectory_table.md").read_text()
    assert (tmp_path / "out" / "trajectory_errors_best.png").stat().st_size > 2000
    with pytest.raises(UserError, match="LABEL=RUN_DIR"):
        script["main"]([f"x={tmp_path / 'missing'}"])
