"""Several devices, several processes and mixed precision as runner settings
(kerasseq.distribute): a job of two processes trains the character LM to the weights of one
process, and after losing a process resumes from process 0's checkpoint; data and model
parallelism train a Transformer on two devices; TensorFlow refuses distribution; mixed
precision trains.

The distributed runs use the JAX backend in subprocesses (the default test pass is
TensorFlow) with tiny settings: three batches per epoch, dropout off (Keras does not save the
state of dropout's random generator, so only a dropout-free run resumes bit for bit)."""

import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from conftest import REPO
from kerasseq import distribute
from kerasseq.checkpoint import Checkpoint
from kerasseq.errors import UserError
from kerasseq.tasks import get_task
from kerasseq.tasks.configs import CharLMConfig
from kerasseq.training import load_run, train

# 3,100 characters are three batches of 32 streams x 32 steps, so every epoch is one full pass
# and an uninterrupted run and a resumed one read the same batches. (32 streams: a quarter of
# the validation batches of 8, and validation is most of the time here.)
TINY_LM = ["--units", "32", "--depth", "1", "--embedding_dim", "16", "--batch_size", "32",
           "--seq_len", "32", "--max_chars", "3100", "--sample_chars", "0", "--steps_per_epoch", "3",
           "--dropout", "0", "--epochs", "3", "--no_tracking"]
TIMEOUT = 600  # per process; a loaded 2-core machine needs a few minutes at worst
needs_jax = pytest.mark.skipif(not importlib.util.find_spec("jax"), reason="needs JAX")


def _env(**extra) -> dict:
    return {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), **extra}


def _start(args, cwd, log: str, **env) -> subprocess.Popen:
    """``kerasseq train charlm ARGS`` on JAX, its output in ``cwd/log`` (a file: a pipe that
    nobody reads while the test waits for another process could fill and stall a job)."""
    with open(Path(cwd) / log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "kerasseq.cli", "train", "charlm", *args],
                                cwd=cwd, env=_env(**env), stdout=out, stderr=subprocess.STDOUT)
    proc.log = Path(cwd) / log
    return proc


def _output(proc, check=True) -> str:
    proc.wait(timeout=TIMEOUT)
    out = proc.log.read_text()
    assert proc.returncode == 0 or not check, out[-4000:]
    return out


def _job(args, cwd, name: str, processes=2, **env) -> list[subprocess.Popen]:
    """The processes of one job on this machine, connected through a free local port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [_start(args, cwd, f"{name}.{i}.log", KERASSEQ_NUM_PROCESSES=str(processes),
                   KERASSEQ_PROCESS_ID=str(i), KERASSEQ_COORDINATOR=f"127.0.0.1:{port}", **env)
            for i in range(processes)]


def _weights(run_dir) -> dict:
    with zipfile.ZipFile(Checkpoint(run_dir).model_path) as archive:
        import h5py

        weights = {}
        with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as f:
            f.visititems(lambda name, v: weights.__setitem__(name, np.array(v))
                         if isinstance(v, h5py.Dataset) else None)
    return weights


@pytest.fixture(scope="module")
def two_process_job(tmp_path_factory, data_dir):
    """One process trains three epochs. Meanwhile a job of two processes trains the same,
    loses process 1 (killed) after process 0's first checkpoint, and is started again."""
    work = tmp_path_factory.mktemp("distributed")
    (work / "tmp").mkdir()  # the scratch folders of process 1
    args = ["--distribute", "data", *TINY_LM]
    started = [_start([*args, "--run_dir", "one"], work, "one.log")]
    try:
        job = _job([*args, "--run_dir", "two"], work, "lost", TMPDIR=str(work / "tmp"))
        started += job
        state = Checkpoint(work / "two").state_path
        deadline = time.time() + TIMEOUT
        while time.time() < deadline and job[0].poll() is None and not state.exists():
            time.sleep(0.05)
        assert state.exists(), f"no checkpoint from the job:\n{job[0].log.read_text()[-3000:]}"
        job[1].kill()  # no chance to clean up: as a crash or a lost machine
        lost = _output(job[0], check=False)
        killed_at = json.loads(state.read_text())["epoch"]
        resumed = _job([*args, "--run_dir", "two"], work, "resumed", TMPDIR=str(work / "tmp"))
        started += resumed
        resumed = [_output(proc) for proc in resumed]
        _output(started[0])
    finally:  # nothing left running, whatever failed
        for proc in started:
            proc.kill()
    return work, (job[0].returncode, lost, killed_at), resumed


@needs_jax
def test_two_processes_train_as_one_with_the_same_global_batch(two_process_job):
    work, _, resumed = two_process_job
    assert "Training process 0 of 2" in resumed[0] and "data parallel over 2 devices" in resumed[0]
    assert "Process 1 of 2: training done; process 0 evaluates" in resumed[1]
    one, two = _weights(work / "one"), _weights(work / "two")
    assert one.keys() == two.keys() and len(one) > 10  # the model's and Adam's variables
    for name in one:  # measured: 1.2e-7 apart at most (float32 rounding)
        np.testing.assert_allclose(two[name], one[name], rtol=1e-4, atol=1e-6, err_msg=name)
    # Process 0 alone wrote: one set of metrics, plots and the export.
    metrics = json.loads((work / "two" / "metrics.json").read_text())
    assert metrics["steps"] == 9 and metrics["epochs"] == 3
    assert metrics == pytest.approx(json.loads((work / "one" / "metrics.json").read_text()), rel=1e-5)
    assert (work / "two" / "artifacts" / "loss_curve.png").is_file()
    assert (work / "two" / "export" / "model.keras").is_file()
    # Process 1 read and wrote a scratch copy, removed at the end (but not by the killed one).
    assert len(list((work / "tmp").glob("kerasseq-process1-*"))) == 1


@needs_jax
def test_a_job_that_lost_a_process_resumes_from_process_0s_checkpoint(two_process_job):
    work, (returncode, lost, killed_at), resumed = two_process_job
    assert 1 <= killed_at < 3, "the job finished before a process could be killed"
    # Process 0 stops at once with one line (not when JAX's heartbeat times out).
    assert returncode == 1 and "error: the job lost a process (" in lost, lost[-3000:]
    assert "Traceback" not in lost, lost[-3000:]
    for out in resumed:  # both processes loaded the checkpoint that process 0 wrote
        assert f"Resuming two from epoch {killed_at} (step {3 * killed_at})." in out
    state = json.loads(Checkpoint(work / "two").state_path.read_text())
    assert state["epoch"] == 3 and state["step"] == 9 and len(state["history"]["loss"]) == 3
    assert state["config"]["num_processes"] == 2 and state["config"]["process_id"] == 0


FORECAST = dict(model="transformer", dataset="ETTh1", horizon="12", input_length=48, epochs=1,
                steps_per_epoch=3, batch_size=8, d_model=16, depth=1, max_train_windows=96,
                max_test_windows=16, plots=0, seed=1)

PARALLEL = """
import json, sys
import keras
from kerasseq import distribute, training
from kerasseq.models.forecasting import build_transformer_forecaster
from kerasseq.tasks import get_task

task, settings, out = get_task("forecast"), json.loads(sys.argv[1]), {}
for mode in ("data", "model"):
    config = task.config_class(distribute=mode, **settings)
    out[mode] = training.train(task, config, f"{sys.argv[2]}/{mode}", tracking=False, verbose=0)
with distribute.Job(distribute.resolve(task.config_class(distribute="model"))):
    model = build_transformer_forecaster(48, 12, 7, d_model=16, depth=1)
    odd, conv = keras.layers.Dense(5, name="odd"), keras.layers.Conv2D(4, 3, name="conv")
    odd.build((None, 3))
    conv.build((None, 8, 8, 1))
    out["layouts"] = {v.path: tuple(v.value.sharding.spec)
                      for v in [*model.weights, odd.kernel, conv.kernel]}
out["devices"] = keras.distribution.list_devices()
print("RESULT " + json.dumps(out))
"""


@needs_jax
def test_data_and_model_parallel_train_a_transformer_on_two_devices(tmp_path, data_dir):
    result = subprocess.run(
        [sys.executable, "-c", PARALLEL, json.dumps(FORECAST), str(tmp_path)], cwd=tmp_path,
        env=_env(XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2"),
        capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert out["devices"] == ["cpu:0", "cpu:1"]
    assert "data parallel over 2 devices" in result.stdout
    assert "model parallel over 2 devices" in result.stdout
    # The same batches, initial weights and dropout masks: the same training up to rounding
    # (measured: equal to the last digit).
    for mode in ("data", "model"):
        assert out[mode]["steps"] == 3 and np.isfinite(out[mode]["mse"])
    assert out["model"]["val_mse"] == pytest.approx(out["data"]["val_mse"], rel=1e-4)
    # Heads and feed-forward columns/rows over the "model" axis; what does not divide, replicated.
    layouts = out["layouts"]
    block = "encoder_block_0/self_attention"
    assert layouts[f"{block}/query/kernel"] == [None, "model", None]
    assert layouts[f"{block}/attention_output/kernel"] == ["model", None, None]
    assert layouts["encoder_block_0/feedforward_intermediate/kernel"] == [None, "model"]
    assert layouts["encoder_block_0/feedforward_output/kernel"] == ["model", None]
    assert layouts["odd/kernel"] == [None, None]  # 5 units do not split over 2 devices
    assert layouts["conv/kernel"] == [None, None, None, None]  # no layout for this rank
    assert layouts["revin/affine_weight"] == [None]  # not a kernel


def test_distribution_on_tensorflow_says_to_use_jax(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the TensorFlow backend's answer")
    with pytest.raises(UserError, match="multi-device and multi-node runs use KERAS_BACKEND=jax"):
        train(get_task("charlm"), CharLMConfig(distribute="data"), tmp_path / "run", tracking=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("settings, message", [
    (dict(num_processes=2, distribute="data"), "needs --coordinator HOST:PORT"),
    (dict(num_processes=2, coordinator="h:1"), "needs --distribute data"),
    (dict(num_processes=2, coordinator="h:1", distribute="model"), "across processes use --distribute data"),
    (dict(num_processes=2, process_id=2, coordinator="h:1", distribute="data"), "--process_id must be in 0 .. 1"),
])
def test_job_settings_are_checked(settings, message):
    with pytest.raises(UserError, match=message):
        distribute.resolve(CharLMConfig(**settings))


def test_process_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("KERASSEQ_NUM_PROCESSES", "1")
    monkeypatch.setenv("KERASSEQ_PROCESS_ID", "0")
    monkeypatch.setenv("KERASSEQ_COORDINATOR", "node0:1234")
    config = distribute.resolve(CharLMConfig())
    assert (config.num_processes, config.process_id, config.coordinator) == (1, 0, "node0:1234")
    assert distribute.resolve(CharLMConfig(coordinator="node1:99")).coordinator == "node1:99"
    monkeypatch.setenv("KERASSEQ_NUM_PROCESSES", "two")
    with pytest.raises(UserError, match="KERASSEQ_NUM_PROCESSES must be an integer"):
        distribute.resolve(CharLMConfig())


def test_collective_failures_read_as_a_lost_process():
    gloo = ValueError("UNKNOWN: Gloo AllGather failed: [pair.cc:538] Read error: Connection reset by peer")
    assert distribute.lost_process(gloo)
    try:
        try:
            raise gloo
        except ValueError as error:
            raise RuntimeError("while saving") from error
    except RuntimeError as chained:
        assert distribute.lost_process(chained)
    assert not distribute.lost_process(ValueError("Expected a batch of 8 rows"))


class _FourReplicas(distribute.Job):
    replicas = 4  # as if on four devices, without starting any


def test_each_process_feeds_its_rows_of_every_batch():
    tf = pytest.importorskip("tensorflow")
    numbers = tf.data.Dataset.range(10).batch(4)  # [0..3] [4..7] [8 9]
    job = _FourReplicas(CharLMConfig(num_processes=2, process_id=1, batch_size=4))
    pairs = tf.data.Dataset.zip(numbers, numbers.map(lambda x: -x))
    # Rows 2-3 of each batch; the partial batch of 2 rows does not split over 4 replicas.
    assert [(x.tolist(), y.tolist()) for x, y in job.shard(pairs).as_numpy_iterator()] == [
        ([2, 3], [-2, -3]), ([6, 7], [-6, -7])]
    # Truncated-BPTT batches (rows continue rows): process 1 carries on the same streams.
    streams = np.arange(3 * 4 * 2).reshape(3, 4, 2)  # (batches, rows, steps)
    shared = job.shard(tf.data.Dataset.from_tensor_slices(streams)).as_numpy_iterator()
    np.testing.assert_array_equal(np.stack(list(shared)), streams[:, 2:4])
    with pytest.raises(UserError, match="batches of 6 rows do not split over 4 model replicas"):
        job.shard(tf.data.Dataset.range(12).batch(6, drop_remainder=True))


def test_mixed_precision_policies_and_loss_scaling():
    for precision, policy in [("bfloat16", "mixed_bfloat16"), ("float16", "mixed_float16")]:
        with distribute.Job(distribute.resolve(CharLMConfig(precision=precision))) as job:
            assert keras.config.dtype_policy().name == policy
            optimizer = job.optimizer(keras.optimizers.Adam())
            assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == (precision == "float16")
        assert keras.config.dtype_policy().name == "float32"  # restored


def test_char_lm_trains_in_bfloat16_and_exports_in_float32(tmp_path, data_dir):
    args = dict(units=32, depth=1, embedding_dim=16, batch_size=8, seq_len=32, max_chars=800,
                sample_chars=20, epochs=1, steps_per_epoch=3, precision="bfloat16")
    metrics = train(get_task("charlm"), CharLMConfig(**args), tmp_path / "run", tracking=False)
    assert np.isfinite(metrics["val_loss_nats"]) and metrics["steps"] == 3
    assert metrics["val_loss_nats"] < np.log(65) + 0.1  # about uniform after 3 steps, not worse
    trained = Checkpoint(tmp_path / "run").load_model()
    head = trained.get_layer("head")
    # Half-precision matmuls, float32 weights; the loss casts the bfloat16 logits to float32.
    assert (head.compute_dtype, head.variable_dtype) == ("bfloat16", "float32")
    logits = head(keras.ops.ones((1, 2, 32)))
    assert keras.backend.standardize_dtype(logits.dtype) == "bfloat16"
    loss = trained.loss(keras.ops.zeros((1, 2), "int32"), logits)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    # Evaluation, sampling and export use a float32 copy of the weights.
    _, served = load_run(get_task("charlm"), tmp_path / "run")
    assert served.get_layer("head").compute_dtype == "float32"
    assert (tmp_path / "run" / "export" / "model.keras").is_file()
    assert keras.config.dtype_policy().name == "float32"
