"""TransformerSchedule: the formula of Vaswani et al. (eq. 3), its peak, and serialization;
the forecasting step decays and the one-cycle policy against their reference loops."""

import math

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


def _type1_rates(learning_rate, epochs):
    """The rate of each epoch in the Informer/Autoformer/LTSF-Linear loop: train an epoch,
    then ``adjust_learning_rate(optimizer, epoch + 1, args)`` sets lr · 0.5^((e − 1) // 1)."""
    rates, lr = [], learning_rate
    for epoch in range(epochs):
        rates.append(lr)
        e = epoch + 1
        lr = learning_rate * 0.5 ** ((e - 1) // 1)
    return np.array(rates)


def test_epoch_decay_is_the_forecasting_codes_type1_and_type3():
    from types import SimpleNamespace

    from kerasseq.optimizers import EpochDecay
    from kerasseq.training import make_optimizer

    steps = np.arange(0, 50)
    epoch = steps // 10 + 1
    type1 = _type1_rates(0.004, 5)  # 0.004, 0.004, 0.002, 0.001, 0.0005
    halving = keras.ops.convert_to_numpy(EpochDecay(0.004, steps_per_epoch=10, hold=2)(steps))
    np.testing.assert_allclose(halving, type1[epoch - 1], rtol=1e-6)
    # The forecast task's "halving" schedule is type1: the rate halves after the second epoch.
    config = SimpleNamespace(learning_rate=0.004, lr_schedule="halving", clipnorm=0.0, epochs=5)
    schedule = make_optimizer(config, steps_per_epoch=10)._learning_rate
    np.testing.assert_allclose(keras.ops.convert_to_numpy(schedule(steps)), type1[epoch - 1], rtol=1e-6)
    # PatchTST's type3, run the same way: lr for e < 3, else lr · 0.9^(e − 3), set after epoch e.
    type3, lr = [], 1e-4
    for e in range(1, 6):
        type3.append(lr)
        lr = 1e-4 if e < 3 else 1e-4 * 0.9 ** (e - 3)
    assert type3 == [1e-4] * 4 + [1e-4 * 0.9]
    config = SimpleNamespace(learning_rate=1e-4, lr_schedule="decay90", clipnorm=0.0, epochs=5)
    schedule = make_optimizer(config, steps_per_epoch=10)._learning_rate
    np.testing.assert_allclose(keras.ops.convert_to_numpy(schedule(steps)), np.array(type3)[epoch - 1],
                               rtol=1e-6)
    schedule = EpochDecay(1e-3, 7, rate=0.8, hold=2)
    assert EpochDecay.from_config(schedule.get_config()).get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        EpochDecay(1e-3, 0)


def _torch_one_cycle(max_lr, total, pct_start, div=25.0, final_div=1e4):
    """torch.optim.lr_scheduler.OneCycleLR's rates (cos, two phases), step by step."""
    initial = max_lr / div
    phases = [(float(pct_start * total) - 1, initial, max_lr),
              (total - 1, max_lr, initial / final_div)]
    rates = []
    for step in range(total):
        start_step = 0
        for i, (end_step, start_lr, end_lr) in enumerate(phases):
            if step <= end_step or i == len(phases) - 1:
                pct = (step - start_step) / (end_step - start_step)
                rates.append(end_lr + (start_lr - end_lr) / 2.0 * (math.cos(math.pi * pct) + 1))
                break
            start_step = end_step
    return np.array(rates)


def test_one_cycle_is_torchs_one_cycle_lr():
    from types import SimpleNamespace

    from kerasseq.optimizers import OneCycle
    from kerasseq.training import make_optimizer

    expected = _torch_one_cycle(1e-4, 250, 0.4)
    got = keras.ops.convert_to_numpy(OneCycle(1e-4, 250, pct_start=0.4)(np.arange(250)))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-10)
    assert got[0] == pytest.approx(4e-6, rel=1e-4) and got.max() == pytest.approx(1e-4, rel=1e-4)
    assert np.argmax(got) == 99 and got[-1] == pytest.approx(4e-10, rel=1e-2)
    # PatchTST's lradj "TST" in the forecast task: one cycle over --epochs, peak at pct_start.
    config = SimpleNamespace(learning_rate=1e-4, lr_schedule="one_cycle", clipnorm=0.0, epochs=25,
                             pct_start=0.4)
    schedule = make_optimizer(config, steps_per_epoch=10)._learning_rate
    np.testing.assert_allclose(keras.ops.convert_to_numpy(schedule(np.arange(250))), expected,
                               rtol=1e-4, atol=1e-10)
    assert OneCycle.from_config(schedule.get_config()).get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="pct_start"):
        OneCycle(1e-3, 100, pct_start=1.0)


def test_rmsprop_is_graves_2013():
    """``optimizer="rmsprop"``: Graves' RMSProp (2013, section 4) step by step in NumPy:
    n = ℵn + (1−ℵ)ε², g = ℵg + (1−ℵ)ε, Δ = ℶΔ − ג ε / √(n − g² + ℷ), w = w + Δ with
    ℵ = 0.95, ℶ = 0.9, ℷ = 1e-4 and ג the learning rate."""
    from types import SimpleNamespace

    from kerasseq.training import make_optimizer

    config = SimpleNamespace(learning_rate=1e-4, lr_schedule="constant", clipnorm=0.0, epochs=1,
                             optimizer="rmsprop")
    optimizer = make_optimizer(config, steps_per_epoch=10)
    assert isinstance(optimizer, keras.optimizers.RMSprop)
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 2))
    variable = keras.Variable(w.astype("float32"))
    n, g, delta = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for _ in range(4):
        grad = rng.normal(size=w.shape)
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(grad.astype("float32")), variable)])
        n = 0.95 * n + 0.05 * grad ** 2
        g = 0.95 * g + 0.05 * grad
        delta = 0.9 * delta - 1e-4 * grad / np.sqrt(n - g ** 2 + 1e-4)
        w = w + delta
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), w, rtol=1e-5, atol=1e-7)
