"""The settings of every task: one frozen dataclass each, with commented defaults.

Kept apart from the task modules so the CLI can check parameters (and answer ``--help``)
without importing Keras or TensorFlow. The registry in ``kerasseq.tasks`` names each task's
settings class.
"""

from __future__ import annotations

from dataclasses import dataclass

from kerasseq.config import RunConfig, param
from kerasseq.errors import UserError

# The cells of kerasseq.models.recurrent.RECURRENT_LAYERS (a test keeps the two equal).
RECURRENT_CELLS = ("gru", "lstm", "rnn")


@dataclass(frozen=True)
class CharLMConfig(RunConfig):
    """Settings of the character language model (defaults: the README's reported run)."""

    epochs: int = param(14, "passes over the training text")
    learning_rate: float = param(3e-3, "Adam learning rate (cosine-decayed to 10% over the run)")
    cell: str = param("lstm", "recurrent unit", choices=RECURRENT_CELLS)
    units: int = param(384, "width of every recurrent layer")
    depth: int = param(2, "number of stacked recurrent layers")
    embedding_dim: int = param(64, "character embedding width")
    dropout: float = param(0.15, "dropout after the embedding and between layers")
    batch_size: int = param(32, "parallel streams of text (rows per batch)")
    seq_len: int = param(100, "characters per truncated-BPTT chunk")
    max_chars: int = param(0, "use only the first N training characters; 0 uses all")
    sample_chars: int = param(400, "length of the samples written during training")
    temperature: float = param(0.8, "sampling temperature of the training-time samples")

    def __post_init__(self):
        super().__post_init__()
        for name in ("units", "depth", "embedding_dim", "batch_size", "seq_len"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise UserError(f"--dropout must be in [0, 1); got {self.dropout}")
        if self.max_chars < 0 or self.sample_chars < 0 or self.temperature <= 0:
            raise UserError("--max_chars and --sample_chars must be >= 0 and --temperature > 0")
