"""Shared test set-up: the data directory, a tiny trained run, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


class _NoTensorFlow:
    """Import hook that makes TensorFlow look uninstalled (as on the GPU machine)."""

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: KERASSEQ_TEST_NO_TENSORFLOW)")
        return None


# `make test` runs the backend-agnostic tests a second time with KERAS_BACKEND=jax and this
# set: kerasseq.layers/models/metrics must work where TensorFlow is not installed.
if os.environ.get("KERASSEQ_TEST_NO_TENSORFLOW"):
    sys.meta_path.insert(0, _NoTensorFlow())

# Tests read the shared datasets; CI and the Makefile set KERASSEQ_DATA_DIR explicitly.
os.environ.setdefault("KERASSEQ_DATA_DIR", str(REPO.parent / "shared" / "data"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Reference outputs of established implementations (timm, DETR): ../shared/fixtures/README.md.
os.environ.setdefault("KERASSEQ_FIXTURES_DIR", str(REPO.parent / "shared" / "fixtures"))
os.environ.setdefault("JAX_PLATFORMS", "cpu")  # no accelerator plugins probed on the CPU suite
# Tests compile many tiny XLA programs and run each a few times: LLVM's optimisation passes and
# XLA:CPU's newer fusion emitters cost more than they save there (measured on the JAX tests of
# tests/models/test_swin_model.py and test_vqa.py: 106 s -> 63 s without the LLVM passes, then
# 66 s -> 45 s with the older emitters; TensorFlow's XLA accepts the flag, its tests take as
# long). Inherited by the CLI subprocesses and notebook kernels. The numerics tests (timm, DETR,
# NumPy references) pass with them at their usual tolerances.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true "
                      "--xla_cpu_use_fusion_emitters=false")

# One TensorFlow thread per pool in each test process: two workers (and the CLI runs they
# start) share the CI machine's 2 cores, and tiny models gain nothing from more threads, only
# contention (a tiny character LM and a tiny translation run at once, four times each way on
# 2026-12-02: 60.3, 48.8, 47.1, 44.8 s with TensorFlow's default pools; 40.7, 45.9, 42.5,
# 44.6 s with one thread each). Inherited by the subprocesses and notebook kernels.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


@pytest.fixture(autouse=True)
def _no_active_mlflow_experiment(monkeypatch):
    """``mlflow.set_experiment`` exports MLFLOW_EXPERIMENT_ID into this process's environment;
    without this, a test that tracked a run would leak its experiment into later tests and into
    the subprocesses they start (``mlflow run --experiment-name`` then refuses both)."""
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _no_process_wide_tracking_uri(monkeypatch):
    """Every test starts with no ``mlflow.set_tracking_uri`` in effect: a URI set in-process
    wins over MLFLOW_TRACKING_URI (as kerasseq lets a user's own choice win), so one set by an
    earlier test would send this test's runs and registrations to that test's store.
    ``set_tracking_uri`` also exports MLFLOW_TRACKING_URI to this process's environment (and so
    to the subprocesses of later tests): that is restored after the test too."""
    def unset():
        utils = sys.modules.get("mlflow.tracking._tracking_service.utils")
        if utils is not None:
            utils._tracking_uri = None

    unset()
    if "MLFLOW_TRACKING_URI" in os.environ:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", os.environ["MLFLOW_TRACKING_URI"])
    else:  # recorded as absent, so deleted again after the test
        monkeypatch.setitem(os.environ, "MLFLOW_TRACKING_URI", "")
        monkeypatch.delenv("MLFLOW_TRACKING_URI")
    yield
    unset()


# Settings of the tiny real-data run the CLI, export and tracking tests share.
TINY = ["--epochs", "2", "--units", "32", "--depth", "1", "--embedding_dim", "16",
        "--batch_size", "8", "--seq_len", "32", "--max_chars", "20000", "--sample_chars", "40"]


_STORE_TEMPLATE = []


def _seed_sqlite_store(uri: str, cwd) -> None:
    """Copy an empty, already migrated MLflow SQLite store to the file of ``uri`` if there is
    none: a new store runs every one of MLflow's schema migrations first (about 3 s), and the
    suite's tiny runs would each pay that. ``uri`` other than a SQLite file: nothing."""
    import shutil
    import tempfile

    if not uri.startswith("sqlite:///"):
        return
    target = Path(cwd) / uri[len("sqlite:///"):]  # an absolute path stays absolute
    if target.exists():
        return
    if not _STORE_TEMPLATE:
        from mlflow.tracking import MlflowClient

        template = Path(tempfile.mkdtemp(prefix="kerasseq-mlflow-")) / "mlflow.db"
        MlflowClient(f"sqlite:///{template}").search_experiments()  # creates and migrates it
        _STORE_TEMPLATE.append(template)
    shutil.copyfile(_STORE_TEMPLATE[0], target)


def run_cli(args, cwd, env=None, check=True, timeout=600, seed_store=True) -> subprocess.CompletedProcess:
    """Run ``kerasseq ARGS`` in a fresh interpreter (as a user would). A ``train`` or
    ``gradients`` that tracks to a new SQLite store (the default ``sqlite:///mlflow.db`` in
    ``cwd``, or the one of ``MLFLOW_TRACKING_URI``) finds it migrated already, unless
    ``seed_store`` is false."""
    full_env = {**os.environ, **(env or {})}
    if seed_store and args and args[0] in ("train", "gradients") and "--no_tracking" not in args:
        _seed_sqlite_store(full_env.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db", cwd)
    result = subprocess.run([sys.executable, "-m", "kerasseq.cli", *args], cwd=cwd, env=full_env,
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"kerasseq {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def call_cli(args, cwd, env=None, check=True) -> subprocess.CompletedProcess:
    """Run ``kerasseq ARGS`` in this process (``kerasseq.cli.main``, what the ``kerasseq``
    script calls), with ``cwd`` and ``env`` applied for the call and stdout/stderr captured.

    For the commands on a trained run whose test is not about a fresh interpreter (sample,
    evaluate, export, their errors): it saves the seconds a new interpreter spends importing
    TensorFlow and Keras and loading the model's code. Not for tracked commands: MLflow's
    tracking URI is global to a process (``run_cli`` runs those)."""
    import contextlib
    import io

    from kerasseq.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    try:
        os.environ.update(env or {})
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse: --help, or a usage error
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    result = subprocess.CompletedProcess(["kerasseq", *args], code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(f"kerasseq {' '.join(map(str, args))} failed ({code}):\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def train_tiny(task_name: str, settings: dict, work: Path, final_metric: str):
    """A tiny run of ``task_name`` in ``work/run``: on TensorFlow through the CLI, tracked in
    a SQLite store (checked: the run finished and logged ``final_<final_metric>``); on JAX in
    this process, untracked. Returns ``(run folder, final metrics)``."""
    import json

    import keras

    if keras.backend.backend() != "tensorflow":
        from kerasseq.tasks import get_config_class, get_task
        from kerasseq.training import train

        metrics = train(get_task(task_name), get_config_class(task_name)(**settings), work / "run",
                        tracking=False, verbose=0)
        return work / "run", metrics
    args = [a for k, v in settings.items() for a in (f"--{k}", str(v))]
    run_cli(["train", task_name, "--run_dir", "run", *args], cwd=work,
            env={"MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"})
    metrics = json.loads((work / "run" / "metrics.json").read_text())
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name(task_name).experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.metrics[f"final_{final_metric}"] == pytest.approx(metrics[final_metric])
    return work / "run", metrics


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["KERASSEQ_DATA_DIR"])
    if not (path / "tinyshakespeare" / "input.txt").exists():
        pytest.fail(f"KERASSEQ_DATA_DIR={path} does not hold tinyshakespeare/input.txt")
    return path


def timm_fixture(name: str):
    """``(json config, safetensors path, io arrays)`` of the timm fixture ``name`` (swin,
    swinv2, vit): the model timm built, its weights, and reference inputs/outputs."""
    import json

    import numpy as np

    folder = Path(os.environ["KERASSEQ_FIXTURES_DIR"]) / "timm"
    if not (folder / f"{name}-shared.json").exists():
        pytest.fail(f"KERASSEQ_FIXTURES_DIR={folder.parent} does not hold timm/{name}-shared.json")
    config = json.loads((folder / f"{name}-shared.json").read_text())
    return config, folder / f"{name}-shared.safetensors", dict(np.load(folder / f"{name}-shared-io.npz"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, data_dir) -> Path:
    """A real two-epoch character-LM run (tiny model, 20k characters), tracked in a SQLite
    store inside its own working directory. Returns that working directory; the run folder
    is ``runs/charlm`` under it."""
    work = tmp_path_factory.mktemp("tiny_run")
    # The default store is created by the run itself (tests/test_tracking.py checks it).
    run_cli(["train", "charlm", *TINY], cwd=work, env={"MLFLOW_TRACKING_URI": ""}, seed_store=False)
    return work


# The files with the longest end-to-end runs, longest first (worker seconds of the CI suite,
# measured 2026-12-02). `make test` runs pytest-xdist with `--dist loadfile
# --no-loadscope-reorder`, so files are handed out in this order: the long ones start first
# and the two workers finish together, instead of one idling while the other works through
# a long file it picked up last. Files not listed keep pytest's order after them.
HEAVY_FIRST = [
    "tests/tasks/test_ner_task.py", "tests/tasks/test_detection_task.py", "tests/test_cli.py",
    "tests/tasks/test_translation_task.py", "tests/tasks/test_image_classification_task.py",
    "tests/test_distributed.py", "tests/tasks/test_nowcast_task.py", "tests/tasks/test_pixelcnn_task.py",
    "tests/tasks/test_forecast_task.py", "tests/tasks/test_captioning_task.py", "tests/test_training.py",
    "tests/tasks/test_mr_task.py", "tests/test_tracking.py", "tests/tasks/test_trajectories_task.py",
    "tests/test_tune.py", "notebooks/detr_digits.ipynb", "tests/test_mlproject.py",
    "tests/tasks/test_treebank_task.py", "tests/models/test_detr_model.py",
    "tests/data/test_image_pydataset.py", "notebooks/charlm.ipynb", "tests/test_export.py",
    "tests/tasks/test_vqa_task.py", "tests/diagnostics/test_gradients.py",
    "notebooks/recurrent_diagnostics.ipynb", "notebooks/captioning_attention.ipynb",
    "tests/diagnostics/test_cells.py", "tests/tasks/test_handwriting_task.py", "notebooks/trajectories.ipynb",
    "tests/models/test_captioning_models.py", "tests/tasks/test_handwriting_synthesis_task.py",
]


def pytest_collection_modifyitems(config, items):
    strays = {item.nodeid.split("::")[0] for item in items if "tiny_run" in getattr(item, "fixturenames", ())}
    if strays - set(TINY_RUN_FILES):
        raise pytest.UsageError(f"tests/conftest.py: add {sorted(strays - set(TINY_RUN_FILES))} to "
                                "TINY_RUN_FILES (they use tiny_run)")
    rank = {path: k for k, path in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable


# The files that use the session fixture `tiny_run`. pytest-xdist gives each worker its own
# session, so files of one fixture spread over both workers trained it twice; one scheduling
# scope keeps them on one worker, which trains it once.
TINY_RUN_FILES = ("tests/test_cli.py", "tests/test_tracking.py", "tests/test_export.py",
                  "tests/test_serving.py", "tests/diagnostics/test_cells.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with the ``tiny_run`` files in one scope (other modes unchanged)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class TinyRunFilesTogether(LoadFileScheduling):
        def _split_scope(self, nodeid):
            path = nodeid.split("::")[0]
            return "tiny_run" if path in TINY_RUN_FILES else path

    return TinyRunFilesTogether(config, log)
