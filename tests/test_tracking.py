"""MLflow tracking: the embedded SQLite store by default, a real tracking server, and a team
server on PostgreSQL that two trainings log to at once."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from conftest import TINY, run_cli
from servers import postgres_cluster, tracking_server


def _only_run(client):
    experiment = client.get_experiment_by_name("charlm")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    return runs[0]


def _check_run(client, run, epochs, units=32):
    assert run.info.status == "FINISHED"
    assert run.data.params["units"] == str(units) and run.data.params["cell"] == "lstm"
    assert run.data.metrics["final_val_loss_nats"] < 4.17  # below the uniform guess ln(65)
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert sorted(m.step for m in history) == list(range(1, epochs + 1))
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots_and_samples")}
    assert "plots_and_samples/loss_curve.png" in artifacts
    samples = client.list_artifacts(run.info.run_id, "samples")
    assert any(a.path.startswith("samples/epoch_") for a in samples)
    models = client.search_logged_models([run.info.experiment_id])  # MLflow 3: models are entities
    models = {m.name: m for m in models if m.source_run_id == run.info.run_id}
    assert sorted(models) == ["model", "serving"]  # the Keras model, the pyfunc of `sample`
    mlflow.set_tracking_uri(client._tracking_client.tracking_uri)
    signature = mlflow.models.get_model_info(f"models:/{models['model'].model_id}").signature
    assert signature.inputs.to_dict()[0]["tensor-spec"]["dtype"] == "int32"
    assert signature.outputs.to_dict()[0]["tensor-spec"]["shape"][-1] == 65
    serving = mlflow.models.get_model_info(f"models:/{models['serving'].model_id}").signature
    assert serving.inputs.input_names() == ["prompt"]
    assert {p.name for p in serving.params} == {"num_chars", "temperature"}


def test_embedded_sqlite_store_is_the_default(tiny_run):
    db = tiny_run / "mlflow.db"
    assert db.is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    _check_run(client, _only_run(client), epochs=2)


@pytest.mark.server
def test_team_server_on_postgresql_takes_two_trainings_at_once(tmp_path, data_dir, monkeypatch):
    """`mlflow server` on PostgreSQL with an artifact store it serves (clients get
    mlflow-artifacts: URIs): two character LMs train against it at once, one with `kerasseq
    train`, one as the MLflow project (`mlflow run`), then register their models under one
    name at once; everything arrives, the registered SavedModels byte for byte, and nothing
    is logged to a local store instead. Where PostgreSQL is not installed, the server keeps
    its runs in SQLite (a warning says so): the same test of a real tracking server."""
    import contextlib
    import warnings

    from conftest import REPO
    from kerasseq.tracking import register_run_model
    from servers import postgres_bin

    with contextlib.ExitStack() as stack:
        if postgres_bin() is None:
            warnings.warn("PostgreSQL is not installed: the team server test runs on SQLite")
            database = f"sqlite:///{tmp_path / 'server.db'}"
        else:
            database = stack.enter_context(postgres_cluster())
        uri = stack.enter_context(tracking_server(database, tmp_path / "team-artifacts",
                                                  tmp_path / "server.log"))
        args = list(TINY)
        args[args.index("--epochs") + 1] = "1"
        args.remove("--units")
        args.remove("32")

        def train(units):
            run_dir = tmp_path / f"units_{units}"
            env = {**os.environ, "MLFLOW_TRACKING_URI": uri,
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
            if units == 32:
                run_cli(["train", "charlm", *args, "--units", "32", "--run_dir", run_dir],
                        cwd=tmp_path, env=env)
            else:  # the MLflow project's entry point
                command = [Path(sys.executable).with_name("mlflow"), "run", REPO, "-e", "charlm",
                           "--env-manager", "local", "--experiment-name", "charlm"]
                for key, value in [*zip(args[::2], args[1::2]), ("units", units), ("run_dir", run_dir)]:
                    command += ["-P", f"{key.lstrip('-')}={value}"]
                result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True,
                                        text=True, timeout=600)
                assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
            state = json.loads((run_dir / "checkpoint" / "state.json").read_text())
            exported[state["mlflow_run_id"]] = run_dir / "export" / "saved_model"
            return state["mlflow_run_id"]

        # Created first, as a team would: `mlflow run --experiment-name` creates a missing
        # experiment without handling a concurrent creation (kerasseq's set_experiment does).
        MlflowClient(tracking_uri=uri).create_experiment("charlm")
        exported = {}
        with ThreadPoolExecutor(2) as pool:
            run_ids = list(pool.map(train, (32, 24)))
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        with ThreadPoolExecutor(2) as pool:  # both create the registered model at once
            versions = list(pool.map(lambda r: register_run_model(r, "team-lm"), run_ids))

        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name("charlm")
        assert experiment.artifact_location.startswith("mlflow-artifacts:")
        runs = {r.info.run_id: r for r in client.search_runs([experiment.experiment_id])}
        assert sorted(runs) == sorted(run_ids)
        for run_id, units in zip(run_ids, (32, 24)):
            _check_run(client, runs[run_id], epochs=1, units=units)
        assert sorted(int(v.version) for v in versions) == [1, 2]
        registered = client.search_model_versions("name = 'team-lm'")
        assert sorted(v.run_id for v in registered) == sorted(run_ids)
        assert all(v.status == "READY" for v in registered)
        # Each registered version comes back through the server's artifact store byte for
        # byte: the SavedModel its run exported. (Loading one: tests/test_serving.py.)
        for version in registered:
            folder = mlflow.artifacts.download_artifacts(f"models:/team-lm/{version.version}",
                                                         dst_path=str(tmp_path / f"v{version.version}"))
            served = Path(folder) / "artifacts" / "saved_model"
            files = sorted(p.relative_to(served) for p in served.rglob("*") if p.is_file())
            assert Path("saved_model.pb") in files
            assert files == sorted(p.relative_to(exported[version.run_id])
                                   for p in exported[version.run_id].rglob("*") if p.is_file())
            for name in files:
                assert (served / name).read_bytes() == (exported[version.run_id] / name).read_bytes()
        assert (tmp_path / "team-artifacts").is_dir()
        assert not list(tmp_path.rglob("mlflow.db"))  # no local store was written instead


def test_resuming_with_a_run_missing_from_the_store_starts_a_new_tagged_run(tmp_path, monkeypatch):
    from kerasseq.tracking import Tracker

    uri = f"sqlite:///{tmp_path / 'other.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    tracker = Tracker().start("charlm", "resumed", run_id="0123456789abcdef0123456789abcdef")
    try:
        run = mlflow.get_run(tracker.run_id)
        assert tracker.run_id != "0123456789abcdef0123456789abcdef"
        assert run.data.tags["kerasseq.resumed_from"] == "0123456789abcdef0123456789abcdef"
        assert run.info.run_name == "resumed"
    finally:
        mlflow.end_run()


def test_a_store_set_in_the_users_program_is_where_runs_go(tmp_path, monkeypatch):
    """A notebook that calls ``mlflow.set_tracking_uri`` (no MLFLOW_TRACKING_URI) logs its
    kerasseq runs there, not to the default ``mlflow.db`` of the working folder, and
    registers models from there."""
    from kerasseq.errors import UserError
    from kerasseq.tracking import Tracker, register_run_model

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'team.db'}")
    tracker = Tracker().start("charlm", "from a notebook")
    tracker.end()
    assert not (tmp_path / "mlflow.db").exists()
    client = MlflowClient(f"sqlite:///{tmp_path / 'team.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("charlm").experiment_id])
    assert run.info.run_name == "from a notebook" and run.info.status == "FINISHED"
    # Found in the user's store (elsewhere: "not in the tracking store"); it logged no model.
    with pytest.raises(UserError, match="logged no model to register"):
        register_run_model(tracker.run_id, "lm")
    assert not (tmp_path / "mlflow.db").exists()
