"""Settings of CoNLL-2003 named-entity recognition (kept apart from Keras: the CLI reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from kerasseq.config import RunConfig, param
from kerasseq.errors import UserError


@dataclass(frozen=True)
class TaggingConfig(RunConfig):
    """Settings of CoNLL-2003 NER (defaults: the README's BiLSTM-CRF run)."""

    epochs: int = param(30, "at most this many passes over the training sentences")
    patience: int = param(6, "stop after this many epochs without a better validation F1")
    learning_rate: float = param(1e-3, "Adam learning rate (cosine-decayed to 10% over the run)")
    crf: bool = param(True, "CRF output layer (false: independent per-token softmax)")
    batch_size: int = param(32, "sentences per batch")
    word_dim: int = param(100, "word embedding width (learned from scratch)")
    char_encoder: str = param("cnn", "character encoder per word", choices=("cnn", "lstm"))
    char_dim: int = param(30, "character embedding width")
    char_units: int = param(50, "character CNN filters (or LSTM units per direction)")
    max_word_len: int = param(20, "characters per word seen by the character encoder")
    casing: bool = param(True, "embed each word's casing class (numeric, all lower, all upper, "
                         "initial upper ...; Reimers & Gurevych 2017) next to word and characters")
    casing_dim: int = param(10, "casing class embedding width (Reimers & Gurevych's 10)")
    units: int = param(200, "sentence BiLSTM units per direction")
    depth: int = param(1, "stacked sentence BiLSTM layers")
    dropout: float = param(0.5, "dropout on word representations, between stacked BiLSTMs "
                           "and on BiLSTM outputs")
    recurrent_dropout: float = param(0.0, "variational dropout on the sentence LSTMs' recurrent "
                                     "state (one mask per sentence; Gal & Ghahramani 2016)")
    word_dropout: float = param(0.5, "probability of replacing a training singleton by <unk>")
    train_on: str = param("train", "train: select the epoch on validation F1; train+valid: train "
                          "on both for exactly --epochs epochs and keep the last (Chiu & Nichols "
                          "2016's final models; take --epochs from a train-only run's best epoch)",
                          choices=("train", "train+valid"))

    def __post_init__(self):
        super().__post_init__()
        for name in ("patience", "batch_size", "word_dim", "char_dim", "char_units",
                     "max_word_len", "casing_dim", "units", "depth"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        for name in ("dropout", "recurrent_dropout", "word_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise UserError(f"--{name} must be in [0, 1); got {getattr(self, name)}")
