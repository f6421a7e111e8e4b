"""The shared runner: resuming a killed run, stopping on NaN, gradient clipping."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import keras
import numpy as np
import pytest

from conftest import TINY, run_cli
from kerasseq.config import RunConfig, param
from kerasseq.tasks.base import Task
from kerasseq.errors import UserError
from kerasseq.training import (StopOnNaN, TimeLimit, TrainingError, continuous, make_optimizer,
                               steps_per_epoch, train)


def test_killed_run_resumes_to_the_same_step_count(tmp_path, data_dir):
    args = list(TINY)
    args[args.index("--epochs") + 1] = "5"
    args[args.index("--sample_chars") + 1] = "0"
    command = [sys.executable, "-m", "kerasseq.cli", "train", "charlm", *args, "--no_tracking"]
    state = tmp_path / "runs" / "charlm" / "checkpoint" / "state.json"
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if state.exists() and json.loads(state.read_text())["epoch"] >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up: as a crash or a lost machine
    proc.wait()
    killed_at = json.loads(state.read_text())["epoch"]
    assert 2 <= killed_at < 5, "the run finished before it could be killed"

    resumed = run_cli(["train", "charlm", *args, "--no_tracking"], cwd=tmp_path).stdout
    assert f"Resuming runs/charlm from epoch {killed_at}" in resumed
    final = json.loads(state.read_text())
    steps_per_epoch = (20000 - 1) // (8 * 32)  # max_chars // (batch_size * seq_len)
    assert final["epoch"] == 5 and final["step"] == 5 * steps_per_epoch
    assert len(final["history"]["loss"]) == 5  # every epoch once, none repeated or lost
    # Training really continued: the loss kept falling after the resume.
    assert final["history"]["val_loss"][-1] < final["history"]["val_loss"][killed_at - 1]


# A minimal task for the runner's own behaviour (not an application).
@dataclass(frozen=True)
class _RegressionConfig(RunConfig):
    poison: bool = param(False, "put a NaN in the inputs")


class _RegressionTask(Task):
    name = "regression"
    config_class = _RegressionConfig

    def datasets(self, run):
        import tensorflow as tf

        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 3)).astype("float32")
        y = x @ np.array([1.0, -2.0, 0.5], "float32")
        if run.config.poison:
            x[40] = np.nan
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
        return ds, ds

    def build_model(self, run):
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])

    def compile_args(self, run):
        return {"loss": "mse"}

    def example_input(self, run):
        return np.zeros((1, 3), "float32")


def test_nan_loss_stops_training_without_checkpointing_it(tmp_path):
    config = _RegressionConfig(epochs=3, poison=True)
    with pytest.raises(TrainingError, match="loss became NaN at epoch 1, batch 5"):
        train(_RegressionTask(), config, tmp_path / "run", tracking=False, export=False)
    assert not (tmp_path / "run" / "checkpoint" / "state.json").exists()


def test_runner_trains_checkpoints_and_plots(tmp_path):
    metrics = train(_RegressionTask(), _RegressionConfig(epochs=4, learning_rate=0.05), tmp_path / "run",
                    tracking=False, export=False)
    assert metrics["steps"] == 32 and metrics["epochs"] == 4
    assert metrics["val_loss"] < 1.0
    assert (tmp_path / "run" / "artifacts" / "loss_curve.png").stat().st_size > 10_000


def test_time_limit_stops_at_an_epoch_end_evaluates_and_a_rerun_trains_on(tmp_path, capsys):
    config = _RegressionConfig(epochs=3, learning_rate=0.05, max_minutes=1e-6)
    metrics = train(_RegressionTask(), config, tmp_path / "run", tracking=False, export=False)
    assert metrics["epochs"] == 1 and metrics["steps"] == 8 and "val_loss" in metrics
    assert "another epoch would pass --max_minutes" in capsys.readouterr().out
    state = json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 1 and not state["stopped_early"]
    # The same run again, without the limit, resumes from epoch 1 and trains to --epochs.
    again = train(_RegressionTask(), _RegressionConfig(epochs=3, learning_rate=0.05),
                  tmp_path / "run", tracking=False, export=False)
    assert again["epochs"] == 3 and again["steps"] == 24
    assert "Resuming" in capsys.readouterr().out


def test_time_limit_callback_uses_the_mean_epoch_time():
    callback = TimeLimit(minutes=1.0)
    callback.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    callback.model.stop_training = False
    callback.on_train_begin()
    callback._start -= 25.0  # one epoch of 25 s: another would end at 50 s < 60 s
    callback.on_epoch_end(0)
    assert not callback.model.stop_training
    callback._start -= 10.0  # two epochs in 35 s: a third at 52.5 s; then three in 50 s
    callback.on_epoch_end(1)
    assert not callback.model.stop_training
    callback._start -= 15.0
    callback.on_epoch_end(2)
    assert callback.model.stop_training and callback.stopped_after == 3
    with pytest.raises(UserError, match="--max_minutes must be >= 0"):
        RunConfig(max_minutes=-1)


class _ThreeBatches(keras.utils.PyDataset):
    def __init__(self):
        super().__init__()
        self.seen, self.passes = [], 0

    def __len__(self):
        return 3

    def __getitem__(self, index):
        self.seen.append(index)
        return np.full((4, 1), index, "float32"), np.ones((4, 1), "float32")

    def on_epoch_end(self):
        self.passes += 1


def test_steps_per_epoch_draw_every_epoch_in_full_from_finite_data():
    """Keras continues one iterator across epochs when steps_per_epoch is set and stops early
    (with only a warning) when finite data runs out: 5 steps instead of 6 here. The runner
    makes such data continuous."""
    import tensorflow as tf

    def steps_trained(data):
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        model.fit(data, steps_per_epoch=2, epochs=3, verbose=0, shuffle=False)  # as the runner
        return int(model.optimizer.iterations)

    batches = tf.data.Dataset.from_tensor_slices((np.ones((12, 1)), np.ones((12, 1)))).batch(4)
    assert steps_trained(continuous(batches, 2)) == 6
    pydataset = _ThreeBatches()
    assert steps_trained(continuous(pydataset, 2)) == 6
    # In order across epochs (Keras may read a batch ahead), each full pass ended.
    assert pydataset.seen[:6] == [0, 1, 2, 0, 1, 2] and pydataset.passes == 2
    endless = tf.data.Dataset.range(4).repeat()
    assert continuous(endless, 2) is endless


def test_clipnorm_bounds_the_update():
    config = RunConfig(learning_rate=1.0, clipnorm=0.5, lr_schedule="constant")
    optimizer = make_optimizer(config, steps_per_epoch=1)
    assert optimizer.clipnorm == 0.5
    assert make_optimizer(RunConfig(clipnorm=0.0), 10).clipnorm is None


def test_steps_per_epoch_beyond_the_data_is_refused():
    import tensorflow as tf

    data = tf.data.Dataset.range(10).batch(4)  # 3 batches
    assert steps_per_epoch(RunConfig(), data) == 3
    assert steps_per_epoch(RunConfig(steps_per_epoch=2), data) == 2
    with pytest.raises(UserError, match="--steps_per_epoch 5 is more than the 3 batches"):
        steps_per_epoch(RunConfig(steps_per_epoch=5), data)


def test_stop_on_nan_callback():
    callback = StopOnNaN()
    callback.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    callback.on_epoch_begin(2)
    callback.on_train_batch_end(7, {"loss": float("inf")})
    assert callback.stopped_at == (2, 7) and callback.model.stop_training


def test_inverse_sqrt_schedule_peaks_at_the_learning_rate_after_warmup():
    """--lr_schedule inverse_sqrt: the Transformer's warm-up then 1/√step decay, its peak set
    to --learning_rate, with the paper's Adam β₂ = 0.98."""
    from kerasseq.tasks.configs import TranslationConfig

    config = TranslationConfig(lr_schedule="inverse_sqrt", learning_rate=1e-3, warmup_steps=100)
    optimizer = make_optimizer(config, steps_per_epoch=50)
    schedule = optimizer.learning_rate if callable(optimizer.learning_rate) else optimizer._learning_rate
    rates = [float(keras.ops.convert_to_numpy(schedule(step))) for step in (0, 49, 99, 399)]
    assert rates[0] < rates[1] < rates[2]
    np.testing.assert_allclose(rates[2], 1e-3, rtol=1e-5)  # step 100 (Keras counts from 0)
    np.testing.assert_allclose(rates[3], 1e-3 * 0.5, rtol=1e-5)  # ∝ 1/√step: 4× the steps
    assert optimizer.beta_2 == 0.98


def test_warmup_cosine_adamw_schedule_and_decay_exclusions():
    """--lr_schedule warmup_cosine: linear warm-up to --learning_rate, cosine decay to 0 at the
    last step; AdamW with weight decay on kernels only."""
    from kerasseq.tasks.configs import ImageClassificationConfig

    config = ImageClassificationConfig(epochs=10, warmup_epochs=2, learning_rate=1e-3,
                                       weight_decay=0.05)
    optimizer = make_optimizer(config, steps_per_epoch=50)
    assert isinstance(optimizer, keras.optimizers.AdamW) and optimizer.weight_decay == 0.05
    schedule = optimizer._learning_rate
    rate = lambda step: float(keras.ops.convert_to_numpy(schedule(step)))
    assert rate(0) == 0.0 and 0 < rate(50) < rate(99)
    np.testing.assert_allclose(rate(100), 1e-3, rtol=1e-5)  # the peak, after 2 epochs
    np.testing.assert_allclose(rate(300), 0.5e-3, rtol=1e-3)  # half way through the decay
    assert rate(500) < 1e-9
    dense, norm = keras.layers.Dense(3), keras.layers.LayerNormalization()
    dense.build((None, 3)), norm.build((None, 3))
    decayed = [v for v in dense.weights + norm.weights if optimizer._use_weight_decay(v)]
    assert [v.path for v in decayed] == [dense.kernel.path]


class _RecordingRegression(_RegressionTask):
    """The regression task, recording its raw weights after every training step."""

    def __init__(self):
        self.kernels = []

    def callbacks(self, run, model):
        kernels = self.kernels

        class Record(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                kernels.append(keras.ops.convert_to_numpy(self.model.layers[0].kernel).copy())

        return [Record()]


def _final_kernel(run_dir):
    from kerasseq.checkpoint import Checkpoint

    return keras.ops.convert_to_numpy(Checkpoint(run_dir).load_model().layers[0].kernel)


def test_ema_evaluates_and_keeps_the_average_and_a_resumed_run_trains_on_the_raw_weights(tmp_path):
    # Without --ema: the raw weights after each of the 24 steps.
    raw = _RecordingRegression()
    train(raw, _RegressionConfig(epochs=3, learning_rate=0.05), tmp_path / "raw", tracking=False,
          export=False)
    # Polyak averaging as Keras' optimizers keep it: the first step's weights, then
    # average ← m · average + (1 − m) · weights after every step.
    average = raw.kernels[0]
    for kernel in raw.kernels[1:]:
        average = 0.8 * average + 0.2 * kernel
    assert not np.allclose(average, raw.kernels[-1], atol=1e-3)  # the test can tell them apart

    config = _RegressionConfig(epochs=3, learning_rate=0.05, ema=0.8)
    ema = _RecordingRegression()
    metrics = train(ema, config, tmp_path / "ema", tracking=False, export=False)
    # Training itself is untouched (the raw weights go on as without the average) ...
    np.testing.assert_allclose(np.stack(ema.kernels), np.stack(raw.kernels), atol=1e-6)
    # ... and the run ends, is evaluated and checkpointed with the average.
    np.testing.assert_allclose(_final_kernel(tmp_path / "ema"), average, atol=1e-5)
    assert metrics["val_loss"] > 0

    # Stopped after one epoch (a time limit) and resumed: the same raw steps, the same average.
    resumed = _RecordingRegression()
    train(resumed, _RegressionConfig(epochs=3, learning_rate=0.05, ema=0.8, max_minutes=1e-6),
          tmp_path / "resumed", tracking=False, export=False)
    train(resumed, config, tmp_path / "resumed", tracking=False, export=False)
    np.testing.assert_allclose(np.stack(resumed.kernels), np.stack(raw.kernels), atol=1e-6)
    np.testing.assert_allclose(_final_kernel(tmp_path / "resumed"), average, atol=1e-5)


def test_ema_must_be_below_one():
    with pytest.raises(UserError, match="--ema must be in"):
        _RegressionConfig(ema=1.0)
