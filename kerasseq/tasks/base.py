"""What a task provides to the shared machinery (runner, CLI, MLflow entry points, export).

A task is a small class: its settings dataclass, its datasets, its model and its
evaluation. Everything else (compiling, fitting, checkpoints, resuming, tracking, plots of
the loss, SavedModel export, the CLI) is shared. Register a new task by adding its module to
``kerasseq.tasks.TASK_MODULES``.
"""

from __future__ import annotations


class Task:
    """Base class of every task. Override the methods marked *required*."""

    name: str = ""
    description: str = ""
    config_class: type = None

    def resolve_config(self, config):
        """The settings with anything left to the task filled in (a model's training recipe
        where ``--learning_rate 0`` asks for it). Default: ``config`` unchanged."""
        return config

    def prepare(self, run) -> None:
        """Set up anything the other methods share (vocabularies, statistics), reading from
        or writing to ``run.dir`` so evaluation and sampling work without the data."""

    def datasets(self, run):
        """*Required.* ``(train, validation)`` datasets of ``(inputs, targets)``: tf.data, or
        ``keras.utils.PyDataset`` where TensorFlow is absent (the detection task on JAX)."""
        raise NotImplementedError

    def build_model(self, run):
        """*Required.* The (uncompiled) training model."""
        raise NotImplementedError

    def compile_args(self, run) -> dict:
        """*Required.* ``loss`` and ``metrics`` for ``model.compile``."""
        raise NotImplementedError

    def jit_compile(self, run):
        """The model's XLA setting (default: ``--jit_compile``)."""
        from kerasseq.training import resolve_jit_compile

        return resolve_jit_compile(run.config.jit_compile)

    @staticmethod
    def jit_off_on_tensorflow_cpu(setting):
        """``auto`` becomes off on TensorFlow without a GPU, where XLA measured slower for the
        ConvLSTM and the forecasters; any other setting (and other backends) stay as set."""
        import keras

        if keras.backend.backend() == "tensorflow" and setting == "auto":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        return setting

    def callbacks(self, run, model) -> list:
        """Extra Keras callbacks for ``fit`` (sampling, state resets ...)."""
        return []

    def evaluate(self, run, model, val_ds) -> dict:
        """Final metrics of a trained model, as the task's literature reports them."""
        values = model.evaluate(val_ds, verbose=0, return_dict=True)
        return {f"val_{k}": float(v) for k, v in values.items()}

    def evaluate_ensemble(self, members: list[tuple]) -> dict:
        """Test metrics of the averaged predictions of several trained runs (``kerasseq
        evaluate TASK --ensemble``); ``members`` holds ``(run, model)`` pairs."""
        from kerasseq.errors import UserError

        raise UserError(f"{self.name} has no ensemble evaluation (ner has)")

    def plots(self, run, model, history: dict) -> None:
        """Write task-specific figures under ``run.artifacts`` (the loss curve is shared)."""

    def serving_model(self, run, model):
        """The model to export and serve (default: the training model)."""
        return model

    def example_input(self, run):
        """A small NumPy input of the serving model, for signatures and export checks."""
        raise NotImplementedError

    def export_endpoints(self, run, archive, serving_model) -> None:
        """Add task-specific SavedModel endpoints to ``archive`` (``keras.export.ExportArchive``)."""

    def pyfunc_endpoint(self, run) -> dict | None:
        """The SavedModel endpoint that MLflow serves (``mlflow models serve``), as the
        ``model_config`` of :mod:`kerasseq.serving`: ``{"endpoint": name, "input": name,
        "params": {name: default}}`` for a string input, plus ``"dtype"`` and ``"shape"``
        (``-1`` for the batch) for a tensor input. Logged as the pyfunc model ``serving`` next
        to the Keras ``model``. Default ``None``: the Keras serving model itself is served."""
        return None

    def folds(self, config) -> list[tuple[str, dict]] | None:
        """The cross-validation these settings ask for, as ``(fold name, overrides)`` pairs, or
        ``None`` for one run. Default: k-fold when the settings have ``fold = -1``."""
        if getattr(config, "fold", None) == -1:
            return [(f"fold_{k:02d}", {"fold": k}) for k in range(config.folds)]
        return None

    def summarize_folds(self, config, run_dir, names: list[str], metrics: list[dict]) -> list:
        """Write task-specific summaries of a finished cross-validation under ``run_dir``
        (tables, figures); return their paths."""
        return []

    def sample(self, run, model, **options) -> str:
        """Generate from a trained model (tasks that generate)."""
        raise NotImplementedError(f"task {self.name} does not generate samples")
