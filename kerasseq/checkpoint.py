"""Epoch checkpoints of a run directory: the model with its optimizer, and the run state.

Layout of a run directory::

    run_dir/checkpoint/model.keras   model + optimizer state after the last finished epoch
    run_dir/checkpoint/state.json    {"epoch", "step", "config", "history", "mlflow_run_id"}

Both are written to a temporary file and renamed, so a run killed while saving leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from kerasseq.errors import CheckpointError


class Checkpoint:
    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir) / "checkpoint"
        self.model_path = self.dir / "model.keras"
        self.state_path = self.dir / "state.json"

    def exists(self) -> bool:
        return self.state_path.exists()

    def save(self, model, state: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp_model = self.dir / "model.tmp.keras"
        model.save(tmp_model)
        os.replace(tmp_model, self.model_path)
        tmp_state = self.dir / "state.tmp.json"
        tmp_state.write_text(json.dumps(state, indent=1))
        os.replace(tmp_state, self.state_path)

    def load_state(self) -> dict:
        try:
            state = json.loads(self.state_path.read_text())
            for key in ("epoch", "step", "config", "history"):
                state[key]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"checkpoint state {self.state_path} is unreadable or corrupt ({exc}); "
                "delete the run directory or pass --restart to start over"
            ) from None
        return state

    def load_model(self):
        import keras

        # Register every kerasseq layer, loss and metric a saved model may name.
        import kerasseq.layers  # noqa: F401
        import kerasseq.losses  # noqa: F401
        import kerasseq.metrics  # noqa: F401
        import kerasseq.models  # noqa: F401  (ScaledEmbedding)
        import kerasseq.optimizers  # noqa: F401  (TransformerSchedule)

        if not self.model_path.exists():
            raise CheckpointError(
                f"checkpoint {self.model_path} is missing although {self.state_path} exists; "
                "pass --restart to start over"
            )
        try:
            return keras.saving.load_model(self.model_path)
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            raise CheckpointError(
                f"checkpoint {self.model_path} is corrupt and cannot be loaded "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); "
                "pass --restart to start over"
            ) from None
