"""The balanced MSE + MAE of Shi et al. 2017 (HKO-7): errors weighted by the rain intensity of
the target pixel, so that a forecaster trained on radar keeps heavy rain instead of blurring
it into drizzle."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasseq")
class BalancedMSEMAE(keras.losses.Loss):
    """``mean(w · ((ŷ − y)² + |ŷ − y|))`` with a per-pixel weight ``w`` set by the target's
    rain rate ``R``: ``weights[i]`` for ``thresholds[i−1] ≤ R < thresholds[i]`` (HKO-7's
    1, 2, 5, 10, 30 for R below 2, 5, 10, 30 and above, mm/h).

    Predictions and targets are on the log scale of :class:`kerasseq.layers.LogScaling`,
    ``y = log(1 + R) / log(1 + max_value)``, from which ``R`` is recovered for the weights.
    Plain MSE on radar images is dominated by the many dry and light pixels; the network then
    forecasts a smooth field whose heavy rain fades with lead time (low CSI at 2 mm/h and
    above). Shi et al. (2017) weight the errors by intensity instead (their B-MSE + B-MAE).

    ``y_true``, ``y_pred``: ``(batch, time, height, width, 1)``. Returns ``(batch, time,
    height, width)`` before the reduction.

    Args:
        thresholds: increasing rain rates (mm/h) where the weight steps up.
        weights: one more weight than thresholds.
        max_value: ``LogScaling``'s ``max_value`` (the rain rate mapped to 1).
        mae_weight: weight of the absolute-error term (0: balanced MSE alone).
        name / reduction / dtype: as ``keras.losses.Loss``.

    Example:
    >>> model.compile("adam", BalancedMSEMAE())

    References:
        Shi, Gao, Lausen, Wang, Yeung, Wong and Woo 2017, "Deep learning for precipitation
        nowcasting: a benchmark and a new model", NIPS (section 4, B-MSE and B-MAE).
    """

    def __init__(self, thresholds=(2.0, 5.0, 10.0, 30.0), weights=(1.0, 2.0, 5.0, 10.0, 30.0),
                 max_value: float = 100.0, mae_weight: float = 1.0, name="balanced_mse_mae",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        thresholds, weights = [float(t) for t in thresholds], [float(w) for w in weights]
        if len(weights) != len(thresholds) + 1 or sorted(thresholds) != thresholds:
            raise ValueError(f"Expected increasing thresholds and one more weight than "
                             f"thresholds. Received: thresholds={thresholds}, weights={weights}")
        if not max_value > 0 or mae_weight < 0:
            raise ValueError(f"Expected max_value > 0 and mae_weight >= 0. Received: "
                             f"max_value={max_value}, mae_weight={mae_weight}")
        self.thresholds, self.weights = thresholds, weights
        self.max_value, self.mae_weight = float(max_value), float(mae_weight)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")[..., 0]
        y_pred = ops.cast(y_pred, "float32")[..., 0]
        rain = ops.expm1(y_true * math.log1p(self.max_value))  # mm/h
        weight = ops.full_like(rain, self.weights[0])
        for threshold, step in zip(self.thresholds, self.weights[1:]):
            weight = ops.where(rain >= threshold, step, weight)
        error = y_pred - y_true
        return weight * (ops.square(error) + self.mae_weight * ops.abs(error))

    def get_config(self):
        return {**super().get_config(), "thresholds": self.thresholds, "weights": self.weights,
                "max_value": self.max_value, "mae_weight": self.mae_weight}
