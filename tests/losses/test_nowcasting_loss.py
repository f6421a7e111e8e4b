"""The balanced MSE + MAE of Shi et al. 2017: intensity weights from the log-scaled target."""

import math

import keras
import numpy as np
import pytest

from kerasseq.losses import BalancedMSEMAE


def _reference(y_true, y_pred, thresholds=(2, 5, 10, 30), weights=(1, 2, 5, 10, 30)):
    rain = np.expm1(y_true * math.log1p(100.0))
    w = np.asarray(weights, float)[np.searchsorted(thresholds, rain, side="right")]
    e = y_pred - y_true
    return (w * (e ** 2 + np.abs(e))).mean()


def test_matches_a_numpy_reference_with_hko7_weights():
    rng = np.random.default_rng(0)
    rain = rng.gamma(0.6, 6.0, size=(2, 3, 8, 8, 1))  # 0 to ~60 mm/h: every weight occurs
    y_true = (np.log1p(rain) / math.log1p(100.0)).astype("float32")
    y_pred = (y_true + rng.normal(scale=0.05, size=y_true.shape)).astype("float32")
    loss = BalancedMSEMAE()
    np.testing.assert_allclose(float(loss(y_true, y_pred)), _reference(y_true, y_pred), rtol=1e-5)
    # A miss on heavy rain costs more than the same miss on drizzle.
    heavy, light = np.full((1, 1, 1, 1, 1), 0.9, "float32"), np.full((1, 1, 1, 1, 1), 0.1, "float32")
    assert float(loss(heavy, heavy - 0.1)) > 10 * float(loss(light, light - 0.1))


def test_config_round_trip_and_checks(tmp_path):
    loss = BalancedMSEMAE(thresholds=(1.0, 4.0), weights=(1.0, 3.0, 9.0), mae_weight=0.5)
    assert BalancedMSEMAE.from_config(loss.get_config()).get_config() == loss.get_config()
    inputs = keras.Input((2, 4, 4, 1))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile("adam", loss)
    model.optimizer.build(model.trainable_variables)  # saved with its variables: no warning
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.loss.get_config() == loss.get_config()
    with pytest.raises(ValueError, match="one more weight"):
        BalancedMSEMAE(thresholds=(2.0,), weights=(1.0,))
