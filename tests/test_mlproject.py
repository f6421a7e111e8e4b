"""The MLflow project: every parameter reaches its script, and `mlflow run` trains for real."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from conftest import REPO
from kerasseq.config import field_type
from kerasseq.tasks import REGISTRY, get_config_class

PROJECT = yaml.safe_load((REPO / "MLproject").read_text())


@pytest.mark.parametrize("entry", sorted(PROJECT["entry_points"]))
def test_every_parameter_reaches_the_command(entry):
    spec = PROJECT["entry_points"][entry]
    for name in spec["parameters"]:
        assert f"{{{name}}}" in spec["command"], f"{entry}: parameter {name} is not passed on"
    script = spec["command"].split()[1]
    assert (REPO / script).is_file()


@pytest.mark.parametrize("task", sorted(REGISTRY))
def test_task_entry_matches_its_settings(task):
    spec = PROJECT["entry_points"][task]
    fields = {f.name: f for f in dataclasses.fields(get_config_class(task))}
    assert set(spec["parameters"]) - {"run_dir"} == set(fields)
    for name, f in fields.items():
        default = spec["parameters"][name]["default"]
        kind = field_type(f)
        if kind is bool:
            default = str(default).lower() == "true"
        assert kind(default) == f.default, f"{task}.{name}: MLproject default {default} != {f.default}"
        assert f"--{name} {{{name}}}" in spec["command"]


def test_mlflow_run_trains_and_tracks(tmp_path, data_dir):
    db = tmp_path / "mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    params = dict(epochs=1, units=32, depth=1, embedding_dim=16, batch_size=8, seq_len=32,
                  max_chars=20000, sample_chars=20, run_dir=str(tmp_path / "run"))
    command = [str(Path(sys.executable).with_name("mlflow")), "run", str(REPO), "-e", "charlm",
               "--env-manager", "local", "--experiment-name", "mlproject-test"]
    for key, value in params.items():
        command += ["-P", f"{key}={value}"]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("mlproject-test")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["units"] == "32"  # logged by MLflow from -P and by kerasseq alike
    assert run.data.metrics["final_val_loss_nats"] < 4.17
    assert (tmp_path / "run" / "export" / "saved_model" / "saved_model.pb").is_file()


def test_tune_entry_point_passes_the_search_and_the_settings_on():
    sys.path.insert(0, str(REPO / "pipelines"))
    try:
        from tune import tune_argv
    finally:
        sys.path.pop(0)
    # What MLflow renders from the defaults and from -P settings="--epochs 1 --units 32".
    assert tune_argv(["mr", "--trials", "10", "--tuner", "bayesian", "--objective", "",
                      "--initial_points", "0", "--final_cv", "false", "--run_dir", "",
                      "--settings="]) == ["tune", "mr", "--trials", "10", "--tuner", "bayesian",
                                          "--initial_points", "0"]
    assert tune_argv(["charlm", "--trials", "2", "--objective", "val_loss:min", "--final_cv", "True",
                      "--run_dir", "runs/t", "--settings=--epochs 1 --units 32"]) == [
        "tune", "charlm", "--trials", "2", "--tuner", "bayesian", "--initial_points", "0",
        "--objective", "val_loss:min", "--final_cv", "--run_dir", "runs/t", "--epochs", "1",
        "--units", "32"]
