"""Root and all-phrase accuracy and the root cross-entropy against NumPy, with unsupervised
nodes (-1) and an empty filler row (TensorFlow and JAX)."""

import keras
import numpy as np
import pytest

from kerasseq.losses.treebank import RootCrossEntropy
from kerasseq.metrics.sentiment import PhraseAccuracy, RootAccuracy, root_labels

# Post-order labels: each tree's root is its last supervised node; row 2 is an empty filler.
LABELS = np.array([[0, -1, 1, -1], [1, 1, 0, 0], [-1, -1, -1, -1]], np.int32)
ROOT = np.array([2, 3, -1])


def _logits(seed=0):
    return np.random.default_rng(seed).normal(size=(3, 4, 2)).astype("float32")


def test_root_labels():
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(root_labels(LABELS)), [1, 0, -1])


def test_accuracies_match_numpy():
    logits = _logits()
    pred = logits.argmax(-1)
    supervised = LABELS >= 0
    root_hits = [pred[0, 2] == 1, pred[1, 3] == 0]
    for metric, expected, y_pred in (
            (RootAccuracy(), np.mean(root_hits), logits),
            (RootAccuracy(), np.mean(root_hits), logits[np.arange(3), np.maximum(ROOT, 0)]),
            (PhraseAccuracy(), np.mean(pred[supervised] == LABELS[supervised]), logits)):
        metric.update_state(LABELS, y_pred)
        assert float(metric.result()) == pytest.approx(expected)
    # Accumulates over batches: the same batch twice leaves the ratio unchanged.
    metric = RootAccuracy()
    metric.update_state(LABELS, logits)
    metric.update_state(LABELS, logits)
    assert float(metric.result()) == pytest.approx(np.mean(root_hits))


def test_root_cross_entropy_is_the_mean_over_real_trees():
    sentence = _logits(1)[:, 0]  # (batch, classes)
    log_p = sentence - np.log(np.exp(sentence).sum(-1, keepdims=True))
    expected = -(log_p[0, 1] + log_p[1, 0]) / 2
    assert float(RootCrossEntropy()(LABELS, sentence)) == pytest.approx(expected, rel=1e-5)
