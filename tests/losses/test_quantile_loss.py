"""PinballLoss: the formula against NumPy, its minimiser, and serialization."""

import keras
import numpy as np
import pytest

from kerasseq.losses import PinballLoss


def test_matches_numpy_and_half_mae_at_the_median():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=(4, 6, 2)), rng.normal(size=(4, 6, 2, 3))
    q = np.array([0.1, 0.5, 0.9])
    e = y[..., None] - p
    expected = np.mean(np.maximum(q * e, (q - 1) * e))
    loss = PinballLoss(q)
    np.testing.assert_allclose(float(loss(y.astype("float32"), p.astype("float32"))), expected, rtol=1e-5)
    median = PinballLoss([0.5])(y.astype("float32"), p[..., 1:2].astype("float32"))
    np.testing.assert_allclose(float(median), 0.5 * np.mean(np.abs(y - p[..., 1])), rtol=1e-5)


def test_its_minimiser_is_the_quantile():
    samples = np.random.default_rng(1).exponential(size=4000).astype("float32")
    grid = np.linspace(0, 4, 401, dtype="float32")
    loss = PinballLoss([0.9])
    values = [float(loss(samples, np.full((4000, 1), g, "float32"))) for g in grid]
    assert grid[int(np.argmin(values))] == pytest.approx(np.quantile(samples, 0.9), abs=0.02)


def test_config_round_trip_and_bad_levels():
    loss = PinballLoss((0.2, 0.5, 0.8))
    rebuilt = keras.losses.deserialize(keras.losses.serialize(loss))
    assert rebuilt.get_config() == loss.get_config()
    with pytest.raises(ValueError, match="quantile levels"):
        PinballLoss([0.5, 1.0])
