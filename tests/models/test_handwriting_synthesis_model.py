"""Graves' handwriting synthesis network: its weight count, and the compiled sampler (with
priming and the stopping rule) against the network run on its own samples."""

import keras
import numpy as np
import pytest

from kerasseq.losses import sample_mixture_density
from kerasseq.models import build_handwriting_synthesizer, draw_noise, handwriting_synthesis_sampler, window_model


def _compiled(fn):
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn)


def test_weight_count_follows_graves_figure_12():
    v, units, k, m = 6, 8, 2, 3
    model = build_handwriting_synthesizer(v, 3, units, m, k)
    lstm = lambda inputs: 4 * units * (inputs + units + 1)  # noqa: E731
    expected = (lstm(3 + v) + 3 * k * (units + 1)  # layer 1 reads (x, w_{t−1}); the window reads h¹
                + 2 * lstm(3 + units + v)  # layers 2, 3 read (x, h^{n−1}, w_t)
                + (3 * units + 1) * (6 * m + 1))  # the head reads every layer
    assert model.count_params() == expected
    assert model.output_shape == (None, None, 6 * m + 1)
    with_window = build_handwriting_synthesizer(v, 1, 4, 2, 2, return_window=True)
    assert [tuple(s) for s in with_window.output_shape] == [(None, None, 13), (None, None, None)]
    with pytest.raises(ValueError, match="window_components"):
        build_handwriting_synthesizer(v, window_components=0)


def test_sampler_is_the_network_run_on_its_own_samples_with_priming_and_stopping():
    keras.utils.set_random_seed(0)
    model = build_handwriting_synthesizer(6, 2, 8, 3, 2, kappa_bias_init=-0.5)
    ids = np.array([[1, 2, 3, 0], [4, 5, 1, 2]], "int32")
    noise = draw_noise(2, 14, seed=5)
    prime = np.random.default_rng(3).normal(size=(2, 3, 3)).astype("float32")
    prime[..., 2] = prime[..., 2] > 0
    sample = _compiled(handwriting_synthesis_sampler(model))
    points, lengths = (keras.ops.convert_to_numpy(t) for t in sample(ids, noise, np.float32(0.3), prime))
    assert points.shape == (2, 14, 3) and lengths.shape == (2,)
    # Teacher forcing on origin, priming points and samples predicts the mixtures drawn from.
    inputs = np.concatenate([np.zeros((2, 1, 3), "float32"), prime, points[:, :-1]], axis=1)
    y_hat, phi = (keras.ops.convert_to_numpy(t) for t in window_model(model)([inputs, np.pad(ids, [(0, 0), (0, 1)])]))
    redrawn = keras.ops.convert_to_numpy(sample_mixture_density(y_hat[:, 3:], 0.3, noise=noise))
    np.testing.assert_allclose(redrawn, points, atol=1e-4)
    # Graves' stopping rule on the same window weights: φ(t, U + 1) > φ(t, u) for all u ≤ U.
    for line, u in enumerate((ids > 0).sum(1)):
        stops = [t - 3 + 1 for t in range(3, 17) if phi[line, t, u] > phi[line, t, :u].max()]
        assert lengths[line] == (stops[0] if stops else 14)
    assert lengths.min() < 14  # the window runs past these texts within the 14 steps
    unprimed, _ = sample(ids, noise, np.float32(0.3), np.zeros((2, 0, 3), "float32"))
    first = keras.ops.convert_to_numpy(model([np.zeros((2, 1, 3), "float32"), ids]))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(unprimed)[:, 0],
                               keras.ops.convert_to_numpy(sample_mixture_density(first[:, 0], 0.3,
                                                                                 noise=noise[:, 0])), atol=1e-4)
