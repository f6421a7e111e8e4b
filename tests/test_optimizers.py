"""TransformerSchedule: the formula of Vaswani et al. (eq. 3), its peak, and serialization."""

import keras
import numpy as np
import pytest

from kerasseq.optimizers import TransformerSchedule


def test_formula_and_peak():
    schedule = TransformerSchedule(256, warmup_steps=100)
    iterations = np.array([0, 1, 49, 99, 100, 1000, 10000])
    step = iterations + 1.0
    expected = 256 ** -0.5 * np.minimum(step ** -0.5, step * 100 ** -1.5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(schedule(iterations)), expected, rtol=1e-5)
    rates = keras.ops.convert_to_numpy(schedule(np.arange(1000)))
    assert int(np.argmax(rates)) == 99  # step 100 = warmup_steps
    np.testing.assert_allclose(rates.max(), (256 * 100) ** -0.5, rtol=1e-5)


def test_serialization(tmp_path):
    schedule = TransformerSchedule(64, warmup_steps=10, scale=2.0)
    rebuilt = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert rebuilt.get_config() == schedule.get_config()
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(keras.optimizers.Adam(schedule, beta_2=0.98, epsilon=1e-9), "mse")
    model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.optimizer.learning_rate is not None
    assert isinstance(loaded.optimizer._learning_rate, TransformerSchedule)
    with pytest.raises(ValueError, match="warmup_steps"):
        TransformerSchedule(64, warmup_steps=0)
