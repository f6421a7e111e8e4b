"""kerasseq: sequence models for Keras 3 -- layers, builders and tracked training pipelines.

Importing ``kerasseq`` is cheap: subpackages (``kerasseq.layers``, ``kerasseq.models``,
``kerasseq.data`` ...) load on first access, so ``import kerasseq`` does not pull in
Keras, TensorFlow or MLflow.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "cli",
    "config",
    "data",
    "decoding",
    "diagnostics",
    "errors",
    "export",
    "extrapolation",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "plotting",
    "tasks",
    "tracking",
    "training",
)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"kerasseq.{name}")
    raise AttributeError(f"module 'kerasseq' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
