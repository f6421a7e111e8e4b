"""The pinball (quantile) loss of probabilistic forecasts."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasseq")
class PinballLoss(keras.losses.Loss):
    """Mean pinball loss of quantile forecasts (Koenker & Bassett 1978):

        ρ_q(e) = max(q · e, (q − 1) · e),   e = y − ŷ_q,

    averaged over the quantile levels and every other axis. Minimising it makes ŷ_q the q-th
    quantile of y's conditional distribution; at q = 0.5 it is half the absolute error.

    Args:
        quantiles: the levels q ∈ (0, 1), in the order of the forecast's last axis.

    Shapes: ``y_true (..., )``, ``y_pred (..., Q)``.

    Example:
    >>> model.compile(loss=PinballLoss((0.1, 0.5, 0.9)))   # model outputs (batch, H, T, 3)
    """

    def __init__(self, quantiles=(0.1, 0.5, 0.9), name: str = "pinball", **kwargs):
        super().__init__(name=name, **kwargs)
        quantiles = [float(q) for q in quantiles]
        if not quantiles or not all(0.0 < q < 1.0 for q in quantiles):
            raise ValueError(f"Expected quantile levels in (0, 1). Received: quantiles={quantiles}")
        self.quantiles = quantiles

    def call(self, y_true, y_pred):
        q = ops.convert_to_tensor(self.quantiles, dtype=y_pred.dtype)
        error = ops.expand_dims(ops.cast(y_true, y_pred.dtype), -1) - y_pred  # (..., Q)
        return ops.mean(ops.maximum(q * error, (q - 1.0) * error), axis=-1)

    def get_config(self):
        return {**super().get_config(), "quantiles": self.quantiles}
