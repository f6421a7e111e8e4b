"""Graves' mixture density loss (eq. 26) against SciPy, its stability and masking, the
sampling bias, the sampler, and the nats-per-sequence metric."""

import keras
import numpy as np
import pytest

from kerasseq.losses import (MixtureDensityNLL, mixture_density_nll, mixture_density_params,
                             num_mixture_components, sample_mixture_density)
from kerasseq.metrics import MixtureDensityNatsPerSequence

M = 3


def _random_outputs(n, seed=0):
    """Raw outputs (n, 6M + 1) with σ from 0.05 to 5 and ρ up to ±0.95, and points near them."""
    rng = np.random.default_rng(seed)
    pi_hat = rng.normal(size=(n, M))
    mu = rng.normal(scale=2.0, size=(n, M, 2))
    log_sigma = rng.uniform(np.log(0.05), np.log(5.0), size=(n, M, 2))
    rho_hat = np.arctanh(rng.uniform(-0.95, 0.95, size=(n, M)))
    e_hat = rng.normal(scale=2.0, size=(n, 1))
    y_hat = np.concatenate([pi_hat, mu[..., 0], mu[..., 1], log_sigma[..., 0], log_sigma[..., 1],
                            rho_hat, e_hat], -1).astype("float32")
    y = np.concatenate([rng.normal(scale=2.0, size=(n, 2)), rng.random((n, 1)) < 0.3], -1)
    return y_hat, y.astype("float32")


def _scipy_nll(y_hat, y, bias=0.0):
    """Graves' eqs. 18-26 with SciPy's bivariate normal density."""
    stats = pytest.importorskip("scipy.stats")
    from scipy.special import logsumexp, softmax

    y_hat, out = y_hat.astype("float64"), []
    for row, point in zip(y_hat, y.astype("float64")):
        part = lambda k: row[k * M:(k + 1) * M]  # noqa: E731
        pi = softmax(part(0) * (1 + bias))
        sx, sy, rho = np.exp(part(3) - bias), np.exp(part(4) - bias), np.tanh(part(5))
        # log Σ π N, as logsumexp of SciPy's log-densities (the densities themselves underflow
        # far from every component).
        log_density = logsumexp([np.log(pi[j]) + stats.multivariate_normal(
            [part(1)[j], part(2)[j]], [[sx[j] ** 2, rho[j] * sx[j] * sy[j]],
                                      [rho[j] * sx[j] * sy[j], sy[j] ** 2]]).logpdf(point[:2])
                                 for j in range(M)])
        e = 1.0 / (1.0 + np.exp(-row[6 * M]))
        out.append(-log_density - np.log(e if point[2] > 0.5 else 1.0 - e))
    return np.array(out)


def test_nll_is_graves_eq_26_with_scipys_densities():
    y_hat, y = _random_outputs(200)
    expected = _scipy_nll(y_hat, y)
    nll = keras.ops.convert_to_numpy(mixture_density_nll(y, y_hat))
    assert nll.shape == (200,)
    np.testing.assert_allclose(nll, expected, rtol=1e-4, atol=1e-4)
    loss = MixtureDensityNLL()(y.reshape(4, 50, 3), y_hat.reshape(4, 50, -1))
    np.testing.assert_allclose(float(loss), expected.mean(), rtol=1e-5)
    assert num_mixture_components(6 * M + 1) == M
    with pytest.raises(ValueError, match="6 \\* M \\+ 1"):
        mixture_density_nll(y, y_hat[:, :-1])


def test_sampling_bias_sharpens_the_mixture():
    y_hat, y = _random_outputs(5, seed=3)
    params = {k: keras.ops.convert_to_numpy(v) for k, v in mixture_density_params(y_hat, 0.5).items()}
    np.testing.assert_allclose(params["logits"], 1.5 * y_hat[:, :M], rtol=1e-6)
    np.testing.assert_allclose(params["components"][..., 2], y_hat[:, 3 * M:4 * M] - 0.5, rtol=1e-6)
    np.testing.assert_allclose(params["components"][..., 0], y_hat[:, M:2 * M])
    np.testing.assert_allclose(params["eos_logit"], y_hat[:, 6 * M])
    # The biased distribution is the one the reference computes with b = 0.5.
    biased = y_hat.copy()
    biased[:, :M] *= 1.5
    biased[:, 3 * M:5 * M] -= 0.5
    np.testing.assert_allclose(keras.ops.convert_to_numpy(mixture_density_nll(y, biased)),
                               _scipy_nll(y_hat, y, bias=0.5), rtol=1e-4, atol=1e-4)


def test_extreme_outputs_give_finite_losses_and_gradients():
    values = np.array([-1e4, -50.0, 0.0, 50.0, 1e4], "float32")
    y_hat = np.stack([np.full(6 * M + 1, v, "float32") for v in values])  # (5, 19)
    y = np.array([[1e3, -1e3, 1.0], [0, 0, 0], [1e-3, 0, 1], [-5, 5, 0], [1e3, 1e3, 1]], "float32")
    nll = keras.ops.convert_to_numpy(mixture_density_nll(y, y_hat))
    assert np.isfinite(nll).all()
    # A training step from there keeps the weights finite.
    inputs = keras.Input((6 * M + 1,))
    head = keras.layers.Dense(6 * M + 1, kernel_initializer="zeros", name="head")
    model = keras.Model(inputs, head(inputs))
    model.compile(keras.optimizers.SGD(1e-9), MixtureDensityNLL())
    for row in y_hat:
        head.bias.assign(row)
        model.fit(np.zeros((5, 6 * M + 1), "float32"), y, verbose=0)
        assert np.isfinite(keras.ops.convert_to_numpy(head.bias)).all()


def test_padding_is_masked_out_of_loss_metric_and_gradients():
    y_hat, y = _random_outputs(24, seed=1)
    nll = _scipy_nll(y_hat, y)
    valid = np.ones((4, 6), bool)
    valid[1, 3:] = valid[2, 1:] = False
    valid[3] = False  # a sequence of padding only: not counted
    padded = np.where(valid.reshape(24, 1), y, np.nan).astype("float32")
    y4 = np.concatenate([padded, valid.reshape(24, 1)], -1).reshape(4, 6, 4)
    y_hat = y_hat.reshape(4, 6, -1)
    flat = valid.reshape(-1)
    np.testing.assert_allclose(float(MixtureDensityNLL()(y4, y_hat)), nll[flat].mean(), rtol=1e-5)
    np.testing.assert_allclose(float(MixtureDensityNLL(reduction="sum")(y4, y_hat)), nll[flat].sum(),
                               rtol=1e-5)
    # Graves' L(x): summed over each sequence, averaged over the 4 sequences of the batch.
    per_line = nll.reshape(4, 6).copy()
    per_line[~valid] = 0.0
    np.testing.assert_allclose(float(MixtureDensityNLL(per_sequence=True)(y4, y_hat)),
                               per_line.sum(1).mean(), rtol=1e-5)
    metric = MixtureDensityNatsPerSequence()
    metric.update_state(y4[:2], y_hat[:2])
    metric.update_state(y4[2:], y_hat[2:])
    np.testing.assert_allclose(float(metric.result()), nll[flat].sum() / 3, rtol=1e-5)
    metric.reset_state()
    assert float(metric.result()) == 0.0
    inputs = keras.Input((6, 6 * M + 1))
    model = keras.Model(inputs, keras.layers.Dense(6 * M + 1)(inputs))
    model.compile(keras.optimizers.SGD(1e-3), MixtureDensityNLL(), metrics=[MixtureDensityNatsPerSequence()])
    history = model.fit(y_hat, y4, verbose=0).history
    assert np.isfinite(history["nats_per_sequence"][0])
    assert all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights)


def test_sampler_draws_components_offsets_and_pen_lifts():
    # Two well-separated components with weights 0.2 / 0.8 and e = sigmoid(1).
    row = np.zeros(13, "float32")  # M = 2
    row[0:2] = np.log([0.2, 0.8])
    row[2:4], row[4:6] = [-10.0, 10.0], [0.0, 5.0]  # μx, μy
    row[6:10] = np.log(0.5)
    row[10:12] = np.arctanh(0.6)
    row[12] = 1.0
    samples = keras.ops.convert_to_numpy(sample_mixture_density(np.tile(row, (20000, 1)), seed=7))
    assert samples.shape == (20000, 3)
    second = samples[:, 0] > 0
    assert abs(second.mean() - 0.8) < 0.02  # ~ 7 standard errors
    assert abs(samples[:, 2].mean() - 1 / (1 + np.exp(-1.0))) < 0.02
    chosen = samples[second]
    np.testing.assert_allclose(chosen[:, :2].mean(0), [10.0, 5.0], atol=0.03)
    np.testing.assert_allclose(np.corrcoef(chosen[:, :2].T)[0, 1], 0.6, atol=0.03)
    # Explicit noise: the inverse CDF of π picks the component, ε the offset, u the pen.
    noise = np.array([[0.1, 0.0, 0.0, 0.9], [0.5, 1.0, 0.0, 0.1]], "float32")
    drawn = keras.ops.convert_to_numpy(sample_mixture_density(np.tile(row, (2, 1)), noise=noise))
    np.testing.assert_allclose(drawn, [[-10.0, 0.0, 0.0], [10.5, 5.0 + 0.5 * 0.6, 1.0]], atol=1e-5)
    # A large bias makes the likeliest component and a narrower Gaussian.
    biased = keras.ops.convert_to_numpy(sample_mixture_density(np.tile(row, (2000, 1)), bias=5.0, seed=1))
    assert (biased[:, 0] > 0).all() and biased[:, 1].std() < 0.5 * np.exp(-5.0) * 1.2


def test_loss_and_metric_configs_round_trip(tmp_path):
    loss = MixtureDensityNLL(name="nll", reduction="sum")
    assert MixtureDensityNLL.from_config(loss.get_config()).get_config() == loss.get_config()
    loss = MixtureDensityNLL(per_sequence=True)
    assert MixtureDensityNLL.from_config(loss.get_config()).per_sequence
    inputs = keras.Input((None, 4))
    model = keras.Model(inputs, keras.layers.Dense(6 * M + 1)(inputs))
    model.compile("adam", MixtureDensityNLL(), metrics=[MixtureDensityNatsPerSequence()])
    model.optimizer.build(model.trainable_variables)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.loss, MixtureDensityNLL)
