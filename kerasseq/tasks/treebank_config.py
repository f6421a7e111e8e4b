"""Settings of the sentiment-treebank task (kept apart from ``configs.py`` for size; like it,
importable without Keras)."""

from __future__ import annotations

from dataclasses import dataclass

from kerasseq.config import RunConfig, param
from kerasseq.errors import UserError

# kerasseq.models.tree_classifier.TREE_MODELS, without importing Keras.
TREE_MODELS = ("treelstm", "rntn", "rnn", "bilstm")


@dataclass(frozen=True)
class TreebankConfig(RunConfig):
    """Settings of sentiment on the Stanford Sentiment Treebank (defaults: the constituency
    Tree-LSTM at Tai et al.'s sizes, fine-grained, with Adam instead of their AdaGrad)."""

    epochs: int = param(10, "at most this many passes over the training trees")
    patience: int = param(3, "stop after this many epochs without a better dev root accuracy "
                          "(the best epoch's weights are kept)")
    learning_rate: float = param(2e-3, "Adam learning rate (cosine-decayed to 10% over the run)")
    model: str = param("treelstm", "treelstm: binary Tree-LSTM (Tai et al. 2015); rntn: recursive "
                       "neural tensor network, rnn: recursive NN (Socher et al. 2013); bilstm: "
                       "BiLSTM over the words, root label only", choices=TREE_MODELS)
    setting: str = param("fine", "fine: 5 classes; binary: negative/positive, neutral nodes "
                         "unsupervised and neutral sentences dropped", choices=("fine", "binary"))
    batch_size: int = param(25, "trees per batch (Tai et al.'s 25)")
    units: int = param(0, "state size; 0: the paper's (treelstm/bilstm 150, rntn/rnn 25)")
    embedding_dim: int = param(0, "word vector size, learned from scratch; 0: the paper's "
                               "(treelstm/bilstm 300; rntn/rnn must equal --units)")
    dropout: float = param(0.5, "dropout on the node states before the classifier")
    min_count: int = param(1, "keep training words seen at least this often")
    max_train_trees: int = param(0, "train on the first N training trees; 0 uses all")
    plots: int = param(2, "test trees drawn with predicted and true sentiment at every node")

    def __post_init__(self):
        super().__post_init__()
        for name in ("patience", "batch_size", "min_count"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        for name in ("units", "embedding_dim", "max_train_trees", "plots"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} must be >= 0; got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise UserError(f"--dropout must be in [0, 1); got {self.dropout}")
        if (self.model in ("rntn", "rnn") and self.embedding_dim
                and self.embedding_dim != (self.units or 25)):
            raise UserError(f"--model {self.model}: a leaf's state is its word vector, so "
                            f"--embedding_dim must equal --units (or be 0); got "
                            f"{self.embedding_dim} and {self.units or 25}")
