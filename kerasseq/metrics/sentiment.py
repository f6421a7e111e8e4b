"""Accuracies of tree-structured sentiment (SST): at the root and over all phrases.

Labels are the ``(batch, nodes)`` node classes of :func:`kerasseq.data.treebank.tree_arrays`,
post-order, -1 where a node is not supervised (padding; neutral nodes in the binary
setting). The root is a tree's last node and always supervised (the binary setting drops
trees with a neutral root), so it is the last node with a label >= 0: the metrics find it
from the labels alone and work inside ``model.compile`` on any backend.
"""

from __future__ import annotations

import keras
from keras import ops


def root_index(labels):
    """``(batch,)`` index of each row's last supervised node (0 in a row with none)."""
    supervised = ops.cast(ops.convert_to_tensor(labels) >= 0, "int32")  # (batch, nodes)
    nodes = ops.shape(supervised)[1]
    return ops.cast(nodes - 1 - ops.argmax(ops.flip(supervised, axis=1), axis=1), "int32")


def root_labels(labels):
    """``(batch,)`` the root's class of every row, -1 in a row with no supervised node
    (an empty tree that fills the last batch)."""
    labels = ops.cast(ops.convert_to_tensor(labels), "int32")
    picked = ops.take_along_axis(labels, ops.expand_dims(root_index(labels), 1), axis=1)[:, 0]
    return ops.where(ops.any(labels >= 0, axis=1), picked, -1)


def root_predictions(labels, logits):
    """The root's logits: ``logits`` as they are if ``(batch, classes)`` (a sentence model),
    else picked from ``(batch, nodes, classes)`` at :func:`root_index`."""
    if len(logits.shape) == 2:
        return logits
    index = ops.reshape(root_index(labels), (-1, 1, 1))
    return ops.take_along_axis(logits, index, axis=1)[:, 0]  # (batch, classes)


class _CountingAccuracy(keras.metrics.Metric):
    """Correct / counted over the whole evaluation; subclasses say which nodes count."""

    def __init__(self, name, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.correct = self.add_variable((), initializer="zeros", name="correct")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def _pairs(self, y_true, y_pred):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels, logits = self._pairs(ops.cast(y_true, "int32"), y_pred)
        valid = ops.cast(labels >= 0, self.dtype)
        hit = ops.cast(ops.equal(ops.argmax(logits, axis=-1), labels), self.dtype) * valid
        self.correct.assign_add(ops.sum(hit))
        self.count.assign_add(ops.sum(valid))

    def result(self):
        return ops.divide_no_nan(self.correct, self.count)

    def reset_state(self):
        self.correct.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="kerasseq")
class RootAccuracy(_CountingAccuracy):
    """Sentence-level accuracy: the root's argmax against its label (Socher et al. 2013's
    "root" / "all sentences" figure). Predictions ``(batch, nodes, classes)`` or ``(batch,
    classes)``; empty rows are skipped."""

    def __init__(self, name="root_accuracy", dtype=None):
        super().__init__(name, dtype)

    def _pairs(self, y_true, y_pred):
        return root_labels(y_true), root_predictions(y_true, y_pred)


@keras.saving.register_keras_serializable(package="kerasseq")
class PhraseAccuracy(_CountingAccuracy):
    """Accuracy over every supervised node of every tree (Socher et al. 2013's "all
    phrases"), predictions ``(batch, nodes, classes)``."""

    def __init__(self, name="all_phrase_accuracy", dtype=None):
        super().__init__(name, dtype)

    def _pairs(self, y_true, y_pred):
        return y_true, y_pred
