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
        _use_chosen_store(mlflow)
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

    def log_endpoint(self, saved_model: Path, endpoint: dict) -> None:
        """Log the pyfunc model ``serving``: ``endpoint`` (a task's ``pyfunc_endpoint``) of
        the SavedModel at ``saved_model``, served by :mod:`kerasseq.serving`."""
        if self._mlflow:
            _log_endpoint_model(saved_model, endpoint)

    def end(self, status: str = "FINISHED") -> None:
        if self._mlflow and self._mlflow.active_run():
            self._mlflow.end_run(status=status)


def _backend_requirement() -> str:
    import keras

    backend = keras.backend.backend()
    module = __import__(backend)
    return f"{backend}=={module.__version__}"


SERVING_CODE = Path(__file__).with_name("serving.py")


def _log_endpoint_model(saved_model: Path, endpoint: dict) -> None:
    """Log ``endpoint`` of the SavedModel at ``saved_model`` to the active MLflow run as the
    pyfunc model ``serving`` (:mod:`kerasseq.serving`)."""
    from importlib.metadata import PackageNotFoundError, version

    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

    params = endpoint.get("params", {})
    if "shape" in endpoint:  # a tensor in, a tensor out
        import numpy as np

        inputs = Schema([TensorSpec(np.dtype(endpoint["dtype"]), endpoint["shape"], endpoint["input"])])
        outputs = None
    else:  # strings in, strings out
        inputs, outputs = Schema([ColSpec("string", endpoint["input"])]), Schema([ColSpec("string")])
    signature = ModelSignature(
        inputs=inputs,
        outputs=outputs,
        params=ParamSchema([ParamSpec(k, "long" if isinstance(v, int) else "double", v)
                            for k, v in params.items()]) if params else None,
    )
    requirements = []
    for package in ("tensorflow", "tensorflow-text"):  # Text: SentencePiece ops, if any
        try:
            requirements.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            pass
    mlflow.pyfunc.log_model(
        name="serving",
        python_model=str(SERVING_CODE),  # model code: serving needs no kerasseq
        artifacts={"saved_model": str(saved_model)},
        model_config=endpoint,
        signature=signature,
        pip_requirements=requirements,
    )


def _use_chosen_store(mlflow) -> None:
    """Point MLflow at the store the user chose: ``mlflow.set_tracking_uri`` in their own
    program (a notebook pointed at the team server), else ``MLFLOW_TRACKING_URI``; only when
    neither is set, the embedded SQLite store in the working folder."""
    if not mlflow.is_tracking_uri_set():
        mlflow.set_tracking_uri(DEFAULT_TRACKING_URI)


def register_run_model(run_id: str | None, name: str, endpoint: dict | None = None,
                       saved_model: Path | None = None):
    """Register the model the MLflow run ``run_id`` logged as a new version of the registered
    model ``name`` (created if new), in the store runs are tracked in (the user's
    ``mlflow.set_tracking_uri``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``):
    its pyfunc model ``serving`` where it has one, else its Keras ``model``. A run without ``serving`` whose task serves a SavedModel ``endpoint`` (a run
    trained on JAX exports its SavedModel later) gets it logged now from ``saved_model``.
    Returns the ``ModelVersion``; it loads by ``models:/NAME/VERSION``."""
    import mlflow

    from kerasseq.errors import UserError

    if not run_id:
        raise UserError("this run has no MLflow run (trained with --no_tracking): nothing to register")
    _use_chosen_store(mlflow)
    if not _run_exists(mlflow, run_id):
        raise UserError(f"MLflow run {run_id} is not in the tracking store {mlflow.get_tracking_uri()}; "
                        "set MLFLOW_TRACKING_URI to the store the run was trained with")
    experiment_id = mlflow.get_run(run_id).info.experiment_id

    def logged(wanted):  # the run's last logged model of that name
        models = mlflow.search_logged_models(experiment_ids=[experiment_id], output_format="list")
        models = [m for m in models if m.source_run_id == run_id and m.name == wanted]
        return max(models, key=lambda m: m.creation_timestamp) if models else None

    model = logged("serving")
    if model is None and endpoint and saved_model:
        with mlflow.start_run(run_id=run_id):
            _log_endpoint_model(saved_model, endpoint)
        model = logged("serving")
    model = model or logged("model")
    if model is None:
        raise UserError(f"MLflow run {run_id} logged no model to register")
    registered = mlflow.register_model(f"models:/{model.model_id}", name)
    print(f"Registered {name} version {registered.version} ({model.name} of MLflow run {run_id}): "
          f"models:/{name}/{registered.version}")
    return registered
