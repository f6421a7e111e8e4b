"""Social LSTM's bivariate Gaussian: the NLL against SciPy, its stability, the validity channel,
and the reparameterised sampler."""

import math

import keras
import numpy as np
import pytest

from kerasseq.losses.bivariate import (BivariateGaussianNLL, bivariate_gaussian_nll,
                                       bivariate_gaussian_params, sample_bivariate_gaussian)


def _random_gaussians(n, seed=0):
    """Raw params for ρ in ±0.95 and σ from 0.01 to 10, observations near and far from μ."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(scale=3.0, size=(n, 2))
    sigma = 10.0 ** rng.uniform(-2.0, 1.0, size=(n, 2))
    rho = rng.uniform(-0.95, 0.95, size=n)
    params = np.concatenate([mu, np.log(sigma), np.arctanh(rho)[:, None]], -1).astype("float32")
    y = (mu + sigma * rng.normal(size=(n, 2)) * rng.choice([0.3, 1.0, 3.0], size=(n, 1))).astype("float32")
    return params, y, mu, sigma, rho


def _scipy_nll(y, mu, sigma, rho):
    stats = pytest.importorskip("scipy.stats")
    out = []
    for yi, m, s, r in zip(y.astype("float64"), mu, sigma, rho):
        cov = [[s[0] ** 2, r * s[0] * s[1]], [r * s[0] * s[1], s[1] ** 2]]
        out.append(-stats.multivariate_normal(m, cov).logpdf(yi))
    return np.array(out)


def test_nll_is_scipys_negative_log_density():
    params, y, mu, sigma, rho = _random_gaussians(300)
    expected = _scipy_nll(y, mu.astype("float32"), sigma, rho)
    nll = keras.ops.convert_to_numpy(bivariate_gaussian_nll(y, params))
    assert nll.shape == (300,)
    np.testing.assert_allclose(nll, expected, rtol=1e-5, atol=2e-4)
    # The Loss averages it (also over extra leading axes).
    loss = BivariateGaussianNLL()(y.reshape(3, 100, 2), params.reshape(3, 100, 5))
    np.testing.assert_allclose(float(loss), expected.mean(), rtol=1e-5)
    m, s, r = (keras.ops.convert_to_numpy(t) for t in bivariate_gaussian_params(params))
    np.testing.assert_allclose(m, mu, rtol=1e-6)
    np.testing.assert_allclose(s, sigma, rtol=1e-5)
    np.testing.assert_allclose(r, rho, atol=1e-6)


def test_extreme_outputs_give_finite_losses_and_gradients():
    raw = np.array([[0.0, 0.0, la, lb, r] for la in (-30.0, 30.0) for lb in (-30.0, 0.0, 30.0)
                    for r in (-50.0, 0.0, 50.0)], "float32")  # (18, 5)
    y = np.array([[1e3, -1e3]] * len(raw), "float32")
    nll = keras.ops.convert_to_numpy(bivariate_gaussian_nll(y, raw))
    assert np.isfinite(nll).all() and np.isfinite(float(BivariateGaussianNLL()(y, raw)))
    mu, sigma, rho = (keras.ops.convert_to_numpy(t) for t in bivariate_gaussian_params(raw))
    assert sigma.min() >= 1e-3 * (1 - 1e-6) and np.abs(rho).max() < 1.0
    # One training step from such outputs keeps the weights finite.
    inputs = keras.Input((5,))
    head = keras.layers.Dense(5, kernel_initializer="zeros", name="head")
    model = keras.Model(inputs, head(inputs))
    model.compile(keras.optimizers.SGD(1e-12), BivariateGaussianNLL())
    head.bias.assign(raw[0])  # σ at the floor, ρ at the clamp
    model.fit(np.zeros((4, 5), "float32"), y[:4], verbose=0)
    assert np.isfinite(keras.ops.convert_to_numpy(head.bias)).all()


def test_validity_channel_excludes_padding_from_the_mean():
    params, y, mu, sigma, rho = _random_gaussians(24, seed=1)
    nll = keras.ops.convert_to_numpy(bivariate_gaussian_nll(y, params))
    valid = np.random.default_rng(2).random(24) < 0.6
    padded = np.where(valid[:, None], y, np.nan).astype("float32")  # padding may be NaN
    y3 = np.concatenate([padded, valid[:, None].astype("float32")], -1).reshape(4, 6, 3)
    params = params.reshape(4, 6, 5)
    loss = float(BivariateGaussianNLL()(y3, params))
    np.testing.assert_allclose(loss, nll[valid].mean(), rtol=1e-5)
    total = float(BivariateGaussianNLL(reduction="sum")(y3, params))
    np.testing.assert_allclose(total, nll[valid].sum(), rtol=1e-5)
    per_position = keras.ops.convert_to_numpy(BivariateGaussianNLL(reduction="none")(y3, params))
    np.testing.assert_allclose(per_position.reshape(-1), np.where(valid, nll, 0.0), rtol=1e-5)
    empty = np.concatenate([y.reshape(4, 6, 2), np.zeros((4, 6, 1), "float32")], -1)
    assert float(BivariateGaussianNLL()(empty, params)) == 0.0
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(bivariate_gaussian_nll(y, params.reshape(24, 5), valid)),
        np.where(valid, nll, 0.0))
    # NaN padding does not reach the gradients either.
    inputs = keras.Input((6, 5))
    model = keras.Model(inputs, keras.layers.Dense(5)(inputs))
    model.compile(keras.optimizers.SGD(1e-3), BivariateGaussianNLL())
    model.fit(params, y3, verbose=0)
    assert all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights)


def test_sampler_matches_mean_and_covariance():
    mu, sigma, rho = np.array([1.0, -2.0]), np.array([0.5, 2.0]), 0.7
    raw = np.array([*mu, *np.log(sigma), math.atanh(rho)], "float32")
    samples = keras.ops.convert_to_numpy(
        sample_bivariate_gaussian(np.tile(raw, (20000, 1)), seed=42))
    assert samples.shape == (20000, 2)
    cov = np.array([[0.25, rho], [rho, 4.0]])  # ρσxσy = 0.7
    # Within 3% of σ: about 4 standard errors of a mean of 20,000 draws.
    np.testing.assert_allclose((samples.mean(0) - mu) / sigma, 0.0, atol=0.03)
    np.testing.assert_allclose(np.cov(samples.T), cov, rtol=0.05)
    generator = keras.random.SeedGenerator(0)
    first = sample_bivariate_gaussian(raw[None], seed=generator)
    assert not np.allclose(first, sample_bivariate_gaussian(raw[None], seed=generator))


def test_config_round_trip_and_saved_model(tmp_path):
    loss = BivariateGaussianNLL(name="nll", reduction="sum")
    assert BivariateGaussianNLL.from_config(loss.get_config()).get_config() == loss.get_config()
    inputs = keras.Input((6, 4, 2))
    model = keras.Model(inputs, keras.layers.Dense(5)(inputs))
    model.compile("adam", BivariateGaussianNLL())
    x = np.random.default_rng(0).normal(size=(2, 6, 4, 2)).astype("float32")
    target = np.concatenate([x, np.ones((2, 6, 4, 1), "float32")], -1)
    history = model.fit(x, target, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.loss, BivariateGaussianNLL)
    assert loaded.loss.get_config() == model.loss.get_config()
    np.testing.assert_allclose(loaded.evaluate(x, target, verbose=0),
                               model.evaluate(x, target, verbose=0), rtol=1e-6)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="y_true"):
        BivariateGaussianNLL()(np.zeros((2, 4), "float32"), np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match="params"):
        bivariate_gaussian_nll(np.zeros((2, 2), "float32"), np.zeros((2, 4), "float32"))
