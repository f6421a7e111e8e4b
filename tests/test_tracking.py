"""MLflow tracking: the embedded SQLite store by default, and a real tracking server."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from conftest import TINY, run_cli


def _only_run(client):
    experiment = client.get_experiment_by_name("charlm")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    return runs[0]


def _check_run(client, run, epochs):
    assert run.info.status == "FINISHED"
    assert run.data.params["units"] == "32" and run.data.params["cell"] == "lstm"
    assert run.data.metrics["final_val_loss_nats"] < 4.17  # below the uniform guess ln(65)
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert sorted(m.step for m in history) == list(range(1, epochs + 1))
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots_and_samples")}
    assert "plots_and_samples/loss_curve.png" in artifacts
    samples = client.list_artifacts(run.info.run_id, "samples")
    assert any(a.path.startswith("samples/epoch_") for a in samples)
    models = client.search_logged_models([run.info.experiment_id])  # MLflow 3: models are entities
    (model,) = [m for m in models if m.source_run_id == run.info.run_id]
    assert model.name == "model"
    mlflow.set_tracking_uri(client._tracking_client.tracking_uri)
    signature = mlflow.models.get_model_info(f"models:/{model.model_id}").signature
    assert signature.inputs.to_dict()[0]["tensor-spec"]["dtype"] == "int32"
    assert signature.outputs.to_dict()[0]["tensor-spec"]["shape"][-1] == 65


def test_embedded_sqlite_store_is_the_default(tiny_run):
    db = tiny_run / "mlflow.db"
    assert db.is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    _check_run(client, _only_run(client), epochs=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.server
def test_real_tracking_server(tmp_path, data_dir):
    port = _free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen(
        [str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"))
    uri = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{uri}/health", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
        work = tmp_path / "work"
        work.mkdir()
        args = list(TINY)
        args[args.index("--epochs") + 1] = "1"
        run_cli(["train", "charlm", *args], cwd=work, env={"MLFLOW_TRACKING_URI": uri})
        assert not (work / "mlflow.db").exists()
        client = MlflowClient(tracking_uri=uri)
        _check_run(client, _only_run(client), epochs=1)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_resuming_with_a_run_missing_from_the_store_starts_a_new_tagged_run(tmp_path, monkeypatch):
    from kerasseq.tracking import Tracker

    uri = f"sqlite:///{tmp_path / 'other.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    mlflow.set_tracking_uri(uri)  # earlier tests set the process-wide URI, which wins over the env
    tracker = Tracker().start("charlm", "resumed", run_id="0123456789abcdef0123456789abcdef")
    try:
        run = mlflow.get_run(tracker.run_id)
        assert tracker.run_id != "0123456789abcdef0123456789abcdef"
        assert run.data.tags["kerasseq.resumed_from"] == "0123456789abcdef0123456789abcdef"
        assert run.info.run_name == "resumed"
    finally:
        mlflow.end_run()
