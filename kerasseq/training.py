"""The shared training runner: compile, fit with a progress bar, checkpoint every epoch,
resume, stop on NaN, clip gradients, evaluate, plot, export and track in MLflow; on several
devices or processes and in mixed precision (:mod:`kerasseq.distribute`).

A task (see :mod:`kerasseq.tasks.base`) provides datasets, a model and its evaluation; the
runner does the rest, the same way for every task::

    from kerasseq.tasks import get_task
    task = get_task("charlm")
    result = train(task, task.config_class(epochs=1), run_dir="runs/charlm")
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras

from kerasseq import distribute
from kerasseq.checkpoint import Checkpoint
from kerasseq.errors import CheckpointError, UserError
from kerasseq.models.recurrent import reset_recurrent_states  # noqa: F401  (re-exported)
from kerasseq.tracking import Tracker
from kerasseq.training_callbacks import AveragedWeights, StopOnNaN, TimeLimit  # noqa: F401  (re-exported)

# The final metrics of a finished run, written by `finish` into the run folder.
METRICS_FILE = "metrics.json"

# Settings that may change when a run is resumed (train longer, on another data path, on
# other devices or processes: the same global batch trains the same way).
RESUMABLE_CHANGES = {"epochs", "max_minutes", "baselines", "data_dir", "download", "distribute",
                     "num_processes", "process_id", "coordinator"}


class TrainingError(Exception):
    """Training could not go on (the loss became NaN)."""


class LostProcessError(TrainingError):
    """A process of a job of several processes stopped, so the others cannot go on."""


@dataclass
class Run:
    """What a task sees of the current run: its settings, folder and tracker."""

    config: object
    dir: Path
    tracker: Tracker = field(default_factory=lambda: Tracker(enabled=False))
    initial_epoch: int = 0  # > 0 when resuming: tasks with endless data continue their stream

    @property
    def artifacts(self) -> Path:
        path = self.dir / "artifacts"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def export_dir(self) -> Path:
        return self.dir / "export"


def default_run_dir(task_name: str) -> Path:
    return Path("runs") / task_name


def resolve_jit_compile(setting: str):
    return {"auto": "auto", "true": True, "false": False}[setting]


# Variable names (substrings) AdamW leaves undecayed, as timm's recipe does.
NO_WEIGHT_DECAY = ["bias", "gamma", "beta", "cls_token", "pos_embed", "position",
                   "relative_position_bias_table", "logit_scale"]


def make_optimizer(config, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """Adam (AdamW when the config has a ``weight_decay``; Graves' RMSProp when its
    ``optimizer`` is ``"rmsprop"``) with the configured schedule and global-norm gradient
    clipping.

    The cosine schedule is a function of the optimizer's step count, which the checkpoint
    keeps, so a resumed run continues on the same curve.
    """
    learning_rate = config.learning_rate
    # Global-norm clipping, and the weights' moving average (AveragedWeights swaps it in).
    ema = getattr(config, "ema", 0.0)
    common = dict(clipnorm=config.clipnorm or None, use_ema=bool(ema), ema_momentum=ema or 0.99)
    if config.lr_schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=config.epochs * steps_per_epoch, alpha=0.1)
    elif config.lr_schedule == "inverse_sqrt":
        # The Transformer's schedule and Adam settings (Vaswani et al. 2017, §5.3), its peak
        # (at the end of the warm-up) set to --learning_rate.
        from kerasseq.optimizers import TransformerSchedule

        warmup = config.warmup_steps
        learning_rate = TransformerSchedule(1, warmup, scale=config.learning_rate * warmup ** 0.5)
        return keras.optimizers.Adam(learning_rate, beta_2=0.98, epsilon=1e-9, **common)
    elif config.lr_schedule in ("halving", "decay90"):
        # The forecasting code's step schedules: lradj type1 (DLinear), the rate halved from
        # the third epoch on (adjust_learning_rate(epoch + 1) runs after each epoch, so type1's
        # first halving lands after epoch 2), and PatchTST's type3 (×0.9 per epoch from the
        # fifth on, read the same way).
        from kerasseq.optimizers import EpochDecay

        rate, hold = (0.5, 2) if config.lr_schedule == "halving" else (0.9, 4)
        learning_rate = EpochDecay(config.learning_rate, steps_per_epoch, rate, hold)
    elif config.lr_schedule == "one_cycle":
        # PatchTST's lradj "TST": torch's OneCycleLR over every step of --epochs.
        from kerasseq.optimizers import OneCycle

        learning_rate = OneCycle(config.learning_rate, max(config.epochs * steps_per_epoch, 2),
                                 pct_start=getattr(config, "pct_start", 0.3))
    elif config.lr_schedule == "warmup_cosine":
        # Linear warm-up to --learning_rate, then cosine decay to 0 (the ViT/Swin recipe).
        total = config.epochs * steps_per_epoch
        warmup = min(int(round(config.warmup_epochs * steps_per_epoch)), total - 1)
        learning_rate = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else config.learning_rate, decay_steps=total - warmup, alpha=0.0,
            warmup_target=config.learning_rate if warmup else None, warmup_steps=warmup)
    if getattr(config, "optimizer", "adam") == "rmsprop":
        # Graves 2013's RMSProp (section 4): centred (the running mean gradient squared is
        # taken from the running mean square), decay 0.95, momentum 0.9, 1e-4 inside the root.
        return keras.optimizers.RMSprop(learning_rate, rho=0.95, momentum=0.9, epsilon=1e-4,
                                        centered=True, **common)
    weight_decay = getattr(config, "weight_decay", 0.0)
    if weight_decay:
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay, **common)
        # No decay on biases, normalisation scales/offsets, tokens and position tables.
        optimizer.exclude_from_weight_decay(var_names=NO_WEIGHT_DECAY)
        return optimizer
    return keras.optimizers.Adam(learning_rate, **common)


def continuous(train_ds, steps: int):
    """The training data as a stream that ``fit`` can draw ``steps`` batches from every epoch.

    With ``steps_per_epoch`` set, Keras continues one iterator across epochs and ends training
    early, with only a warning, once a finite dataset runs out. A finite ``tf.data.Dataset``
    is repeated; a finite ``keras.utils.PyDataset`` is read by :class:`_EpochsOfSteps` (its own
    ``on_epoch_end`` called after each full pass). Endless or unknown-length data is returned
    as it is.
    """
    if hasattr(train_ds, "cardinality"):  # tf.data
        return train_ds.repeat() if int(train_ds.cardinality()) > 0 else train_ds
    if isinstance(train_ds, keras.utils.PyDataset) and _finite_length(train_ds):
        return _EpochsOfSteps(train_ds, steps)
    return train_ds


def _finite_length(dataset) -> int:
    try:
        return max(int(len(dataset)), 0)
    except TypeError:
        return 0


class _EpochsOfSteps(keras.utils.PyDataset):
    """Epochs of ``steps`` batches cut from consecutive passes over a finite PyDataset."""

    def __init__(self, dataset, steps: int):
        super().__init__(workers=getattr(dataset, "workers", 1),
                         use_multiprocessing=getattr(dataset, "use_multiprocessing", False),
                         max_queue_size=getattr(dataset, "max_queue_size", 10))
        self.dataset, self.steps, self.start = dataset, steps, 0
        self.size = len(dataset)

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index):
        if not 0 <= index < self.steps:
            raise IndexError(f"batch {index} of an epoch of {self.steps} batches")
        return self.dataset[(self.start + index) % self.size]

    def on_epoch_end(self):
        passes, self.start = divmod(self.start + self.steps, self.size)
        for _ in range(passes):  # the wrapped dataset's own end of a pass (reshuffling)
            self.dataset.on_epoch_end()


def steps_per_epoch(config, train_ds) -> int:
    # tf.data: cardinality (< 0: unknown or infinite); a keras.utils.PyDataset: len().
    n = int(train_ds.cardinality()) if hasattr(train_ds, "cardinality") else len(train_ds)
    if config.steps_per_epoch:
        if n > 0 and config.steps_per_epoch > n:  # Keras would stop at the end of the data
            raise UserError(f"--steps_per_epoch {config.steps_per_epoch} is more than the {n} batches "
                            f"of one pass over the training data; use at most {n} (0 = a full pass) "
                            "and more --epochs")
        return config.steps_per_epoch
    if n <= 0:
        raise UserError("the training dataset has unknown length; set --steps_per_epoch")
    return n


def train(task, config, run_dir=None, *, restart: bool = False, tracking: bool = True,
          verbose="auto", export: bool = True, nested: bool = False) -> dict:
    """Train ``task`` with ``config`` in ``run_dir``, resuming from its last checkpoint.

    Args:
        task: a :class:`kerasseq.tasks.base.Task`.
        config: the task's settings (an instance of ``task.config_class``).
        run_dir: run folder; default ``runs/<task>``. A folder with a checkpoint is resumed.
        restart: ignore an existing checkpoint and start from scratch.
        tracking: log to MLflow.
        verbose: Keras progress output (``"auto"``: a progress bar on a terminal).
        export: write the ``.keras`` model and the SavedModel when training ends.
        nested: track the run as a child of the active MLflow run (cross-validation folds).

    Returns:
        The final metrics (``task.evaluate``), plus ``"epochs"`` and ``"steps"``.
    """
    run_dir = Path(run_dir) if run_dir else default_run_dir(task.name)
    config = distribute.resolve(task.resolve_config(config))
    with distribute.Job(config) as job:
        return _train(task, config, run_dir, job, restart=restart, tracking=tracking,
                      verbose=verbose, export=export, nested=nested)


def _train(task, config, run_dir: Path, job: distribute.Job, *, restart, tracking, verbose,
           export, nested) -> dict:
    checkpoint = Checkpoint(run_dir)
    state = None
    if checkpoint.exists() and not restart:
        state = checkpoint.load_state()
        _check_same_settings(state["config"], config, run_dir)

    keras.utils.set_random_seed(config.seed)
    tracker = Tracker(enabled=tracking and job.chief)
    run = Run(config=config, dir=run_dir, tracker=tracker,
              initial_epoch=state["epoch"] if state else 0)
    if job.chief:
        run_dir.mkdir(parents=True, exist_ok=True)
        task.prepare(run)
    job.barrier("prepared")  # the other processes read what process 0 prepared
    if not job.chief:
        run.dir = job.scratch_copy(run_dir)
        task.prepare(run)
        verbose = 0  # process 0 shows the progress
    if job.describe():
        print(f"Training {job.describe()}.")
    train_ds, val_ds = task.datasets(run)

    if state:
        model = checkpoint.load_model()
        model.jit_compile = task.jit_compile(run)
        initial_epoch, history = state["epoch"], state["history"]
        steps = state.get("batch_losses", {"step": [], "loss": []})
        print(f"Resuming {run_dir} from epoch {initial_epoch} (step {state['step']}).")
    else:
        model = task.build_model(run)
        optimizer = make_optimizer(config, steps_per_epoch(config, train_ds))
        model.compile(optimizer=job.optimizer(optimizer), jit_compile=task.jit_compile(run),
                      **task.compile_args(run))
        initial_epoch, history, steps = 0, {}, {"step": [], "loss": []}

    tracker.start(experiment=task.name, run_name=run_dir.name,
                  run_id=(state or {}).get("mlflow_run_id"), nested=nested)
    tracker.log_params(config.to_dict())
    tracker.set_tags({"kerasseq.task": task.name, "kerasseq.run_dir": str(run_dir)})

    nan_guard = StopOnNaN()
    recorder = EpochCheckpoint(checkpoint, config, tracker, history, steps, job=job)
    # Task callbacks first: they may add metrics to the epoch's logs (a validation F1) that
    # the checkpoint records.
    # The weights' average (--ema) goes first: at each epoch's end it is in the model for the
    # task's callbacks (validation F1, early stopping) and the checkpoint.
    averaged = [AveragedWeights(in_model=state is not None)] if config.ema else []
    callbacks = [*averaged, nan_guard, *task.callbacks(run, model), recorder]
    time_limit = TimeLimit(config.max_minutes) if config.max_minutes else None
    if time_limit:
        callbacks.append(time_limit)
    status = "FINISHED"
    try:
        stopped_early = bool(state and state.get("stopped_early"))
        if initial_epoch < config.epochs and not stopped_early:
            model.fit(
                job.shard(continuous(train_ds, config.steps_per_epoch)
                          if config.steps_per_epoch else train_ds),
                validation_data=job.shard(val_ds),
                epochs=config.epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=config.steps_per_epoch or None,
                callbacks=callbacks,
                shuffle=False,  # tasks order (or shuffle) their own datasets
                verbose=_progress_mode(verbose),
            )
            if nan_guard.stopped_at is None:
                # Keep the final weights (a task's early stopping may have restored the best
                # epoch's) and whether training ended early, so a rerun does not train on.
                # A stop by --max_minutes is not early stopping: a rerun trains on.
                timed_out = time_limit is not None and time_limit.stopped_after is not None
                recorder.save_final(stopped_early=not timed_out and len(
                    next(iter(history.values()), [])) < config.epochs)
        else:
            print(f"{run_dir} already trained for {initial_epoch} epochs"
                  f"{' (stopped early)' if stopped_early else ''}; evaluating.")
        if nan_guard.stopped_at is not None:
            status = "FAILED"
            raise TrainingError(
                f"the loss became NaN at epoch {nan_guard.stopped_at[0] + 1}, batch "
                f"{nan_guard.stopped_at[1]}; lower --learning_rate or set --clipnorm. The last good "
                f"checkpoint is in {checkpoint.dir}"
            )
        job.end_training()
        if not job.chief:
            print(f"Process {job.process_id} of {job.num_processes}: training done; process 0 "
                  "evaluates, exports and tracks.")
            return {}
        if job.distribution is not None:
            # Evaluate, plot and export on one device, from the final checkpoint.
            model = checkpoint.load_model()
            model.jit_compile = task.jit_compile(run)
        metrics = finish(task, run, model, val_ds, history, steps, export=export)
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except Exception as exc:
        status = "FAILED" if status == "FINISHED" else status
        if job.multi_process and distribute.lost_process(exc):
            raise LostProcessError(
                f"the job lost a process ({str(exc).splitlines()[0][:300]}); start every process "
                f"again to resume from the last checkpoint in {checkpoint.dir}") from exc
        raise
    except BaseException:
        status = "FAILED" if status == "FINISHED" else status
        raise
    finally:
        tracker.end(status)
    return metrics


def finish(task, run: Run, model, val_ds, history: dict, steps: dict, export: bool = True) -> dict:
    """Evaluate, plot, export and log: the end of every training run."""
    start = time.time()
    steps_done = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    model = distribute.float32_copy(model)  # trained in mixed precision: evaluate in float32
    metrics = dict(task.evaluate(run, model, val_ds))
    metrics["epochs"] = len(next(iter(history.values()), []))
    metrics["steps"] = steps_done
    run.tracker.log_metrics({f"final_{k}": v for k, v in metrics.items()})
    (run.dir / METRICS_FILE).write_text(json.dumps(metrics, indent=1))
    from kerasseq.plotting import plot_history

    if history:
        plot_history(history, run.artifacts / "loss_curve.png", title=task.name, steps=steps)
    task.plots(run, model, history)
    serving = task.serving_model(run, model)
    exported = {}
    if export:
        from kerasseq.export import export_task_model

        exported = export_task_model(task, run, model, serving=serving)
    run.tracker.log_artifact(run.artifacts, "plots_and_samples")
    run.tracker.log_model(serving, task.example_input(run))
    endpoint = task.pyfunc_endpoint(run)
    if endpoint and "saved_model" in exported:
        run.tracker.log_endpoint(exported["saved_model"], endpoint)
    print(f"Final metrics: " + ", ".join(f"{k}={_fmt(v)}" for k, v in metrics.items())
          + f" (evaluation and export took {time.time() - start:.0f}s)")
    return metrics


def _progress_mode(verbose):
    # A progress bar on a terminal; one line per epoch in logs and notebooks' captured output.
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return verbose


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _check_same_settings(saved: dict, config, run_dir: Path) -> None:
    # A setting the run predates (saved by an older kerasseq) had its default.
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    differ = {k: (saved.get(k, defaults[k]), v) for k, v in config.to_dict().items()
              if k not in RESUMABLE_CHANGES and saved.get(k, defaults[k]) != v}
    if differ:
        listed = ", ".join(f"{k}: {old!r} in the run, {new!r} now" for k, (old, new) in differ.items())
        raise CheckpointError(
            f"{run_dir} holds a run with other settings ({listed}); use another --run_dir, "
            "or --restart to overwrite it"
        )


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: save model + optimizer and the run state, log the epoch's metrics.

    Also records the training loss every ``log_every`` batches for the loss curve. In a job
    of several processes only process 0 (``job.chief``) saves.
    """

    def __init__(self, checkpoint: Checkpoint, config, tracker: Tracker, history: dict,
                 steps: dict, log_every: int = 25, job: distribute.Job | None = None):
        super().__init__()
        self.checkpoint, self.config, self.tracker = checkpoint, config, tracker
        self.history, self.steps, self.log_every = history, steps, log_every
        self.job = job
        self._epoch_start = time.time()

    def _save(self, state: dict) -> None:
        if self.job is None:
            self.checkpoint.save(self.model, state)
        elif self.job.chief:
            with self.job.local():
                self.checkpoint.save(self.model, state)

    def _global_step(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        step = self._global_step()
        if step % self.log_every == 0 and logs and "loss" in logs:
            loss = float(logs["loss"])
            self.steps["step"].append(step)
            self.steps["loss"].append(loss)
            self.tracker.log_metrics({"batch_loss": loss}, step=step)

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        if not all(math.isfinite(v) for v in logs.values()):
            return  # never checkpoint a diverged model
        logs["epoch_seconds"] = time.time() - self._epoch_start
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        step = self._global_step()
        self.steps["steps_per_epoch"] = max(1, step // (epoch + 1))
        self.state = {
            "epoch": epoch + 1,
            "step": step,
            "config": self.config.to_dict(),
            "history": self.history,
            "batch_losses": self.steps,
            "mlflow_run_id": self.tracker.run_id,
        }
        self._save(self.state)
        self.tracker.log_metrics(logs, step=epoch + 1)

    def save_final(self, stopped_early: bool) -> None:
        """Checkpoint the model as training left it (after ``on_train_end`` callbacks)."""
        if getattr(self, "state", None):
            self._save({**self.state, "stopped_early": stopped_early})


def load_run(task, run_dir) -> tuple[Run, keras.Model]:
    """Load a trained run (settings and last checkpoint) for evaluation, export or sampling."""
    from kerasseq.config import config_from_dict

    run_dir = Path(run_dir) if run_dir else default_run_dir(task.name)
    checkpoint = Checkpoint(run_dir)
    if not checkpoint.exists():
        raise UserError(f"no trained run in {run_dir} (no {checkpoint.state_path}); "
                        f"train one with: kerasseq train {task.name} --run_dir {run_dir}")
    state = checkpoint.load_state()
    run = Run(config=config_from_dict(task.config_class, state["config"]), dir=run_dir)
    run.state = state
    task.prepare(run)
    return run, distribute.float32_copy(checkpoint.load_model())
