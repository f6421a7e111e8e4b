"""Label-smoothed cross-entropy on sparse (integer) targets, with padding ignored.

Keras 3's ``SparseCategoricalCrossentropy`` has ``ignore_class`` but no ``label_smoothing``
(only the one-hot ``CategoricalCrossentropy`` has it, and it has no ``ignore_class``); a
translation batch has int targets with padding, so this loss has both.
"""

from __future__ import annotations

import keras
from keras import ops
# The function Keras' own sparse cross-entropy marks ignored positions with: the loss
# reduction then averages over the valid tokens only (also combined with a y_pred mask).
from keras.src.backend.common.masking import set_keras_mask


@keras.saving.register_keras_serializable(package="kerasseq")
class SmoothedSparseCrossEntropy(keras.losses.Loss):
    """Cross-entropy against label-smoothed targets (Szegedy et al. 2016; the Transformer's
    ε_ls = 0.1, Vaswani et al. 2017, §5.4), from int targets::

        q = (1 - ε) · onehot(y) + ε / V,      loss = -Σ_k q_k log p_k
                                                   = (1 - ε) · (-log p_y) + ε · mean_k(-log p_k)

    the same as ``keras.losses.CategoricalCrossentropy(label_smoothing=ε)`` on one-hot
    targets. Positions whose target is ``ignore_class`` get loss 0 and are left out of the
    mean (as ``SparseCategoricalCrossentropy(ignore_class=...)`` does).

    ``y_true``: int ids ``(batch, time)``; ``y_pred``: logits (or probabilities with
    ``from_logits=False``) ``(batch, time, V)``. Returns ``(batch, time)`` before the reduction.

    Args:
        label_smoothing: ε in [0, 1).
        ignore_class: the padding id (``None``: every position counts).
        from_logits: whether ``y_pred`` are logits.
        name / reduction / dtype: as ``keras.losses.Loss``.

    Example:
    >>> model.compile("adam", SmoothedSparseCrossEntropy(0.1, ignore_class=0))

    References:
        Szegedy et al. 2016, "Rethinking the Inception architecture for computer vision", §7.
    """

    def __init__(self, label_smoothing: float = 0.1, ignore_class: int | None = 0,
                 from_logits: bool = True, name="smoothed_sparse_cross_entropy",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"Expected 0 <= label_smoothing < 1. "
                             f"Received: label_smoothing={label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        self.ignore_class = ignore_class
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        y_pred = ops.cast(y_pred, "float32")
        if self.from_logits:
            log_p = ops.log_softmax(y_pred, axis=-1)
        else:
            log_p = ops.log(ops.clip(y_pred, 1e-7, 1.0))
        valid = None if self.ignore_class is None else ops.not_equal(y_true, self.ignore_class)
        safe = y_true if valid is None else ops.where(valid, y_true, 0)
        nll = -ops.take_along_axis(log_p, safe[..., None], axis=-1)[..., 0]  # (batch, time)
        smooth = -ops.mean(log_p, axis=-1)  # (batch, time)
        loss = (1.0 - self.label_smoothing) * nll + self.label_smoothing * smooth
        if valid is not None:
            loss = ops.where(valid, loss, 0.0)
            set_keras_mask(loss, valid)
        return loss

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "dtype": self._dtype_policy.name,
                "label_smoothing": self.label_smoothing, "ignore_class": self.ignore_class,
                "from_logits": self.from_logits}
