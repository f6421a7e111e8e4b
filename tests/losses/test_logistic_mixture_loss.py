"""DiscretizedLogisticMixtureNLL (PixelCNN++): against a NumPy reference that integrates each
logistic between the bin edges (with the RGB coupling of §2.2), the edge values 0 and 255,
the 256 probabilities of one sub-pixel summing to 1 (also where the safe branch takes over),
and the config round trip."""

import keras
import numpy as np
import pytest

from kerasseq.losses.pixelcnn import (DiscretizedLogisticMixtureNLL,
                                      discretized_logistic_mixture_log_prob,
                                      num_logistic_mixture_params)

K = 3


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_log_prob(levels, params, k):
    """log p of each pixel by the logistic CDF at the bin edges, float64, with the official
    layout [π K | μ C·K | log s C·K | coeff 3·K] and μ_G += α x_R, μ_B += β x_R + γ x_G."""
    params = params.astype(np.float64)
    c = levels.shape[-1]
    x = levels / 127.5 - 1
    pi = params[..., :k]
    mu = params[..., k:k + c * k].reshape(*levels.shape, k)
    log_s = np.maximum(params[..., k + c * k:k + 2 * c * k].reshape(*levels.shape, k), -7)
    coeff = np.tanh(params[..., k + 2 * c * k:].reshape(*levels.shape[:-1], -1, k))
    if c == 3:
        mu = mu.copy()
        mu[..., 1, :] += coeff[..., 0, :] * x[..., 0, None]
        mu[..., 2, :] += coeff[..., 1, :] * x[..., 0, None] + coeff[..., 2, :] * x[..., 1, None]
    s = np.exp(log_s)
    upper = np.where(levels[..., None] == 255, 1.0, sigmoid((x[..., None] + 1 / 255 - mu) / s))
    lower = np.where(levels[..., None] == 0, 0.0, sigmoid((x[..., None] - 1 / 255 - mu) / s))
    weights = np.exp(pi - np.log(np.exp(pi).sum(-1, keepdims=True)))
    return np.log((weights * np.prod(upper - lower, axis=-2)).sum(-1))


def random_params(rng, shape, colours):
    """Mixture weights and coefficients N(0, 1), means U(-0.8, 0.8), scales e^U(-2.5, -1.5)
    (17 to 28 levels): bins 1e-5 likely and more, where the loss integrates exactly."""
    params = rng.normal(size=(*shape, num_logistic_mixture_params(colours, K)))
    params[..., K:K + colours * K] = rng.uniform(-0.8, 0.8, size=(*shape, colours * K))
    params[..., K + colours * K:K + 2 * colours * K] = rng.uniform(-2.5, -1.5, size=(*shape, colours * K))
    return params.astype("float32")


def test_log_prob_matches_the_integrated_logistic_cdf():
    rng = np.random.default_rng(0)
    params = random_params(rng, (2, 4, 5), 3)
    # levels near component 0's coupled means, so that most bins hold over 1e-5
    mu, coeff = params[..., K:4 * K:K], np.tanh(params[..., 7 * K::K])
    x = np.zeros((2, 4, 5, 3))
    x[..., 0] = mu[..., 0]
    x[..., 1] = mu[..., 1] + coeff[..., 0] * x[..., 0]
    x[..., 2] = mu[..., 2] + coeff[..., 1] * x[..., 0] + coeff[..., 2] * x[..., 1]
    levels = np.clip(np.round((x + rng.normal(0, 0.1, x.shape) + 1) * 127.5), 0, 255)
    levels[0, 0, 0] = [0, 255, 0]  # the edge bins
    levels[0, 0, 1] = [255, 0, 255]
    levels = levels.astype("float32")
    got = keras.ops.convert_to_numpy(discretized_logistic_mixture_log_prob(levels, params, K))
    ref = np_log_prob(levels, params, K)
    # under about -30 a bin may hold less than 1e-5 and take the density at its centre (the
    # safe branch); float32 differences of sigmoids are good to about 1e-3 relative
    likely = ref > -30
    assert likely.sum() >= 30
    np.testing.assert_allclose(got[likely], ref[likely], atol=2e-3)
    np.testing.assert_allclose(np.exp(got), np.exp(ref), rtol=3e-3, atol=1e-12)
    nll = DiscretizedLogisticMixtureNLL(K)(levels, params)
    assert float(nll) == pytest.approx(-np_log_prob(levels, params, K).sum((1, 2)).mean(), rel=1e-5)


@pytest.mark.parametrize("log_scale", [-3.0, -6.5])
def test_the_256_values_of_a_sub_pixel_sum_to_one(log_scale):
    rng = np.random.default_rng(1)
    # one grey image holding every level once, all pixels with the same mixture
    params = np.tile(random_params(rng, (1,), 1)[0], (1, 16, 16, 1))
    params[..., K:2 * K] = [-0.3, 0.2, 0.95]
    params[..., 2 * K:3 * K] = log_scale
    levels = np.arange(256, dtype="float32").reshape(1, 16, 16, 1)
    probs = np.exp(keras.ops.convert_to_numpy(
        discretized_logistic_mixture_log_prob(levels, params, K)).astype(np.float64))
    # -6.5: the scale is 0.2 levels, where the bin centre's density (the safe branch) serves
    assert probs.sum() == pytest.approx(1.0, abs=2e-3 if log_scale < -6 else 1e-4)
    if log_scale == -3.0:
        # the same to 3e-3 where the safe branch serves (far tails), to 1e-3 elsewhere
        np.testing.assert_allclose(probs, np.exp(np_log_prob(levels, params, K)), rtol=3e-3)
        big = probs > 1e-4
        np.testing.assert_allclose(probs[big], np.exp(np_log_prob(levels, params, K))[big],
                                   rtol=1e-3)


def test_blue_given_red_and_green_sums_to_their_joint():
    rng = np.random.default_rng(2)
    params = np.tile(random_params(rng, (1,), 3)[0], (1, 256, 1, 1))
    levels = np.zeros((1, 256, 1, 3), "float32")
    levels[..., 0], levels[..., 1] = 40, 200
    levels[0, :, 0, 2] = np.arange(256)
    joint = np.exp(keras.ops.convert_to_numpy(
        discretized_logistic_mixture_log_prob(levels, params, K)).astype(np.float64)).sum()
    # Σ_b p(r, g, b) = Σ_k π_k p(r | k) p(g | r, k): the NumPy reference on a 2-colour slice
    p = params[0, 0, 0].astype(np.float64)
    pi = np.exp(p[:K]) / np.exp(p[:K]).sum()
    mu, log_s = p[K:4 * K].reshape(3, K), np.maximum(p[4 * K:7 * K].reshape(3, K), -7)
    coeff = np.tanh(p[7 * K:].reshape(3, K))
    xr, xg = 40 / 127.5 - 1, 200 / 127.5 - 1
    means = [mu[0], mu[1] + coeff[0] * xr]
    mass = [sigmoid((x + 1 / 255 - m) / np.exp(ls)) - sigmoid((x - 1 / 255 - m) / np.exp(ls))
            for x, m, ls in zip([xr, xg], means, log_s[:2])]
    assert joint == pytest.approx((pi * mass[0] * mass[1]).sum(), rel=1e-4)


def test_loss_config_and_bad_arguments():
    loss = keras.losses.deserialize(keras.losses.serialize(DiscretizedLogisticMixtureNLL(5)))
    assert isinstance(loss, DiscretizedLogisticMixtureNLL) and loss.num_mixtures == 5
    with pytest.raises(ValueError, match="num_mixtures"):
        DiscretizedLogisticMixtureNLL(0)
    with pytest.raises(ValueError, match="30 logistic mixture parameters"):
        discretized_logistic_mixture_log_prob(np.zeros((1, 2, 2, 3), "float32"),
                                              np.zeros((1, 2, 2, 29), "float32"), 3)
