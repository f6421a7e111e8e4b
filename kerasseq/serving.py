"""An MLflow pyfunc model that serves one endpoint of an exported kerasseq SavedModel.

``mlflow models serve`` answers ``/invocations`` with a pyfunc model. A Keras model logged
with ``mlflow.keras`` is one, but it loads only where ``kerasseq`` is imported first when it
holds kerasseq layers (MLflow's loader does not import it), and the text tasks' useful entry
points are SavedModel endpoints that take and return strings (the character LM's
``sample``, the translator's ``translate``). This file wraps such an endpoint.

It is logged as *model code* (MLflow's models-from-code: this file is copied into the
logged model, :meth:`kerasseq.tracking.Tracker.log_endpoint` does it) with the SavedModel as
an artifact and a ``model_config``::

    {"endpoint": "sample", "input": "prompt", "params": {"num_chars": 200, "temperature": 1.0}}

so serving needs MLflow and TensorFlow only (TensorFlow Text where the SavedModel holds
SentencePiece ops), not kerasseq. The endpoint's first argument is the request's input
``input``; its other arguments are MLflow inference ``params`` with those defaults. A string
input is a column: an endpoint whose first argument is a scalar (``sample``) is called once
per row, one whose first argument is a vector (``translate``) once for all rows. A numeric
input is a batch tensor (the nowcaster's ``forecast``: frames in, frames out). Rejected
inputs (the SavedModel's own checks: a prompt with characters outside the vocabulary, an
empty one) answer HTTP 400 with the check's message.
"""

from __future__ import annotations

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE


class SavedModelEndpoint(mlflow.pyfunc.PythonModel):
    """``predict(input, params)`` through one endpoint of a SavedModel: strings in, a list of
    strings out; or a tensor in, a NumPy array out."""

    def load_context(self, context):
        import tensorflow as tf

        try:
            import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)
        except ImportError:
            pass
        config = context.model_config
        self.input, self.defaults = config["input"], config.get("params", {})
        self.saved_model = tf.saved_model.load(context.artifacts["saved_model"])
        self.endpoint = getattr(self.saved_model, config["endpoint"])
        specs = self.endpoint.concrete_functions[0].structured_input_signature[0]
        self.input_spec, self.param_specs = specs[0], specs[1:]
        if {s.name for s in self.param_specs} != set(self.defaults):
            raise MlflowException(f"params {sorted(self.defaults)} do not match the arguments "
                                  f"of endpoint {config['endpoint']}: {[s.name for s in specs]}")

    def predict(self, context, model_input, params=None):
        import numpy as np
        import tensorflow as tf

        params = {**self.defaults, **(params or {})}
        args = [tf.constant(params[s.name], s.dtype) for s in self.param_specs]
        if isinstance(model_input, dict) or hasattr(model_input, "columns"):  # named input
            model_input = model_input[self.input]
        if len(model_input) == 0:
            raise MlflowException(f"no {self.input} given", INVALID_PARAMETER_VALUE)
        try:
            if self.input_spec.dtype != tf.string:  # a batch tensor
                out = self.endpoint(tf.constant(np.asarray(model_input), self.input_spec.dtype), *args)
                return out.numpy()
            texts = list(model_input)
            wrong = [t for t in texts if not isinstance(t, str)]
            if wrong:
                raise MlflowException(f"{self.input} must be a string; got {wrong[0]!r}",
                                      INVALID_PARAMETER_VALUE)
            if self.input_spec.shape.rank == 0:  # one call per row
                out = [self.endpoint(tf.constant(t), *args) for t in texts]
            else:
                out = list(self.endpoint(tf.constant(texts), *args))
            return [t.numpy().decode("utf-8") for t in out]
        except tf.errors.InvalidArgumentError as error:  # the SavedModel's input checks
            raise MlflowException(_reason(error.message), INVALID_PARAMETER_VALUE) from None


def _reason(message: str) -> str:
    """The failed check's own message out of TensorFlow's graph-execution error text."""
    lines = [line for line in message.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("assertion failed: ["):  # tf.debugging.assert_*(message=...)
            return line[len("assertion failed: ["):].split("]")[0]
    # Other op errors: the line after TensorFlow's preamble ("The num_elements ... got -3").
    lines = [line for line in lines if not line.startswith(
        ("Graph execution error", "Detected at node", "<stack traces", "\t"))]
    return lines[0] if lines else message


mlflow.models.set_model(SavedModelEndpoint())
