"""MLflow tracking for every run: parameters, per-epoch metrics, artifacts and the model.

With no ``MLFLOW_TRACKING_URI`` the embedded SQLite store ``sqlite:///mlflow.db`` in the
working directory is used (MLflow 3's default; look at it with
``mlflow ui --backend-store-uri sqlite:///mlflow.db``). Inside ``mlflow run`` the run that
MLflow created (``MLFLOW_RUN_ID``) is used. A resumed training run continues its MLflow run.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def _run_exists(mlflow, run_id: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        mlflow.get_run(run_id)
    except MlflowException:
        return False
    return True


class Tracker:
    """A thin wrapper over one MLflow run; every method is a no-op when disabled."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.run_id: str | None = None
        self._mlflow = None

    def start(self, experiment: str, run_name: str, run_id: str | None = None,
              nested: bool = False) -> "Tracker":
        """Start (or, with ``run_id``, continue) the MLflow run; ``nested`` makes it a child
        of the active run (the folds of a cross-validation)."""
        if not self.enabled:
            return self
        import mlflow

        self._mlflow = mlflow
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            mlflow.set_tracking_uri(DEFAULT_TRACKING_URI)
        # A child goes to its parent's experiment, also when the parent was reopened by id
        # (which sets no experiment: the child would land in "Default").
        parent = mlflow.active_run() if nested else None
        in_parent = {"experiment_id": parent.info.experiment_id} if parent else {}
        if run_id and not _run_exists(mlflow, run_id):
            # e.g. resumed from another working directory, so another ``mlflow.db``
            print(f"MLflow run {run_id} of this run directory is not in the tracking store "
                  f"{mlflow.get_tracking_uri()}; logging the resumed training to a new "
                  "MLflow run (tagged kerasseq.resumed_from).")
            if not nested:
                mlflow.set_experiment(experiment)
            mlflow.start_run(run_name=run_name, nested=nested,
                             tags={"kerasseq.resumed_from": run_id}, **in_parent)
        elif run_id:
            mlflow.start_run(run_id=run_id, nested=nested)
        elif nested:
            mlflow.start_run(run_name=run_name, nested=True, **in_parent)
        elif os.environ.get("MLFLOW_RUN_ID"):
            mlflow.start_run()  # the run `mlflow run` created for this entry point
        else:
            mlflow.set_experiment(experiment)
            mlflow.start_run(run_name=run_name)
        self.run_id = mlflow.active_run().info.run_id
        return self

    @property
    def uri(self) -> str | None:
        return self._mlflow.get_tracking_uri() if self._mlflow else None

    def log_params(self, params: dict) -> None:
        if self._mlflow:
            existing = self._mlflow.get_run(self.run_id).data.params
            new = {k: v for k, v in params.items() if k not in existing}
            if new:  # MLflow refuses to change a logged parameter; a resumed run keeps its own
                self._mlflow.log_params(new)

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        if self._mlflow:
            self._mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        if self._mlflow:
            if Path(path).is_dir():
                self._mlflow.log_artifacts(str(path), artifact_path)
            else:
                self._mlflow.log_artifact(str(path), artifact_path)

    def log_text(self, text: str, artifact_file: str) -> None:
        if self._mlflow:
            self._mlflow.log_text(text, artifact_file)

    def set_tags(self, tags: dict) -> None:
        if self._mlflow:
            self._mlflow.set_tags(tags)

    def log_model(self, model, example_input) -> None:
        """Log a Keras model with a signature inferred from one example (``input_example``
        is broken for Keras in MLflow 3.17, an explicit signature works)."""
        if not self._mlflow:
            return
        import keras
        import mlflow.keras
        from mlflow.models import infer_signature

        example_output = keras.tree.map_structure(keras.ops.convert_to_numpy,
                                                  model(example_input, training=False))
        if isinstance(example_input, (list, tuple)):  # several inputs: a named schema
            example_input = {t.name: x for t, x in zip(model.inputs, example_input)}
        if isinstance(example_output, (list, tuple)):
            example_output = {f"output_{i}": x for i, x in enumerate(example_output)}
        mlflow.keras.log_model(
            model,
            name="model",
            signature=infer_signature(example_input, example_output),
            # Stated explicitly: MLflow's requirement inference reloads the model in a
            # subprocess, which costs more than the rest of the logging.
            pip_requirements=[f"keras=={keras.__version__}", _backend_requirement()],
        )

    def end(self, status: str = "FINISHED") -> None:
        if self._mlflow and self._mlflow.active_run():
            self._mlflow.end_run(status=status)


def _backend_requirement() -> str:
    import keras

    backend = keras.backend.backend()
    module = __import__(backend)
    return f"{backend}=={module.__version__}"
