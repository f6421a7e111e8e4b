"""Cross-entropy of a sentence model against tree labels: the root's class only.

Tree models are trained at every supervised node with Keras'
``SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)``; a sequential model
(the BiLSTM baseline) predicts one distribution per sentence, scored here against the root
label found in the ``(batch, nodes)`` labels (:func:`kerasseq.metrics.sentiment.root_labels`).
"""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.metrics.sentiment import root_labels


@keras.saving.register_keras_serializable(package="kerasseq")
class RootCrossEntropy(keras.losses.Loss):
    """Mean cross-entropy of ``(batch, classes)`` logits against each tree's root class,
    over the rows that hold a tree (empty filler rows, all -1, are ignored)."""

    def __init__(self, name="root_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        labels = root_labels(y_true)  # (batch,)
        valid = ops.cast(labels >= 0, y_pred.dtype)
        ce = keras.losses.sparse_categorical_crossentropy(ops.maximum(labels, 0), y_pred,
                                                          from_logits=True)  # (batch,)
        # Rescaled so the loss's mean over the batch is the mean over the real trees.
        scale = ops.cast(ops.shape(valid)[0], y_pred.dtype) / ops.maximum(ops.sum(valid), 1.0)
        return ce * valid * scale
