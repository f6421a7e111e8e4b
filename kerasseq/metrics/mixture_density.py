"""The figure of Graves' handwriting tables: the negative log-likelihood of whole sequences
in nats (backend-agnostic)."""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.losses.mixture_density import _split_validity, mixture_density_nll


@keras.saving.register_keras_serializable(package="kerasseq")
class MixtureDensityNatsPerSequence(keras.metrics.Metric):
    """The NLL (:func:`kerasseq.losses.mixture_density_nll`) summed over each sequence's valid
    points, averaged over the sequences seen: Graves' ``L(x)`` in nats per sequence.

    ``y_true``: ``(batch, time, 3)`` or ``(batch, time, 4)`` with a validity channel; a
    sequence counts when it has at least one valid point. ``y_pred``: ``(batch, time, 6M + 1)``.

    Args:
        name / dtype: as ``keras.metrics.Metric``.

    Example:
    >>> model.compile("adam", MixtureDensityNLL(), metrics=[MixtureDensityNatsPerSequence()])

    References:
        Graves 2013, "Generating sequences with recurrent neural networks", arXiv:1308.0850,
        section 4.2 (Table 3).
    """

    def __init__(self, name="nats_per_sequence", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), initializer="zeros", dtype="float32", name="total")
        self.sequences = self.add_variable((), initializer="zeros", dtype="float32", name="sequences")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, valid = _split_validity(y_true)
        nll = mixture_density_nll(y_true, y_pred, valid)  # (batch, time)
        if valid is None:
            valid = ops.ones(ops.shape(nll), "bool")
        counted = ops.any(valid, axis=-1)  # (batch,)
        self.total.assign_add(ops.sum(nll))
        self.sequences.assign_add(ops.sum(ops.cast(counted, "float32")))

    def result(self):
        return ops.divide_no_nan(self.total, self.sequences)

    def reset_state(self):
        self.total.assign(0.0)
        self.sequences.assign(0.0)
