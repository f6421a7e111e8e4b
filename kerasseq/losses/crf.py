"""The negative log-likelihood of a linear-chain CRF, as a Keras loss."""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.layers.crf import crf_log_likelihood


@keras.saving.register_keras_serializable(package="kerasseq")
class CRFNegativeLogLikelihood(keras.losses.Loss):
    """−log p(y | x) of the gold tag paths under a :class:`kerasseq.layers.CRF`.

    Per sequence, −log p(y | x) = log Z − s(y), with s(y) = Σ_t ψ_t[y_{t−1}, y_t] over the
    valid steps and Z = Σ_y' exp s(y') (forward algorithm, :func:`kerasseq.layers.
    crf_log_likelihood`); the batch reduction is Keras' (``"sum_over_batch_size"``: the mean
    over sequences). A pure function of the model output: compiling, ``.keras`` save/load
    and resumed training need no reference to the CRF layer.

    ``y_true``: int tags ``(batch, time)`` with ``-1`` on padding (the mask is
    ``y_true >= 0``; right padding). ``y_pred``: the CRF layer's potentials
    ``(batch, time, tags, tags)``. Returns one value per sequence, ``(batch,)`` before the
    reduction; an all-padding row (one that fills an incomplete batch) contributes 0.

    Args:
        name: loss name.
        reduction: Keras reduction over the ``(batch,)`` values.
        dtype: dtype of the loss computation (``None``: ``keras.config.floatx()``). The
            CRF recursions run in float32 in any case.

    Example:
    >>> model.compile("adam", loss=CRFNegativeLogLikelihood())
    >>> model.fit(token_ids, tag_ids)  # tag_ids: -1 on padding

    References:
        Lafferty, McCallum & Pereira 2001, "Conditional random fields: probabilistic models
        for segmenting and labeling sequence data"; Lample et al. 2016, "Neural architectures
        for named entity recognition", §2.2.
    """

    def __init__(self, name="crf_negative_log_likelihood", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        tags = ops.cast(y_true, "int32")  # `Loss.__call__` has made it a float: -1 stays -1
        return -crf_log_likelihood(y_pred, tags, mask=tags >= 0)  # (batch,)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}
