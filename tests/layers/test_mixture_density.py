"""MixtureDensityHead: the shared layer checks (config, weights, fit, mixed precision, .keras
round trip), Graves' parametrisation of its outputs, and its checks."""

import keras
import numpy as np
import pytest

from kerasseq.layers import MixtureDensityHead
from testing import run_layer_test


def test_layer_contract(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    out = run_layer_test(MixtureDensityHead, {"num_components": 3}, x, expected_output_shape=(2, 5, 19),
                         expected_num_trainable_weights=2, tmp_path=tmp_path)
    assert np.isfinite(out).all()


def test_outputs_are_a_dense_layer_read_as_graves_eqs_18_to_22():
    head = MixtureDensityHead(2, bias_initializer="random_normal")
    x = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")
    y_hat = keras.ops.convert_to_numpy(head(x))
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in head.dense.weights)
    np.testing.assert_allclose(y_hat, x @ kernel + bias, rtol=1e-5, atol=1e-6)
    params = {k: keras.ops.convert_to_numpy(v) for k, v in head.distribution(y_hat, bias=1.0).items()}
    np.testing.assert_allclose(params["logits"], 2.0 * y_hat[:, 0:2], rtol=1e-6)  # π̂ (1 + b)
    np.testing.assert_allclose(params["components"][..., 0], y_hat[:, 2:4])  # μx
    np.testing.assert_allclose(params["components"][..., 1], y_hat[:, 4:6])  # μy
    np.testing.assert_allclose(params["components"][..., 3], y_hat[:, 8:10] - 1.0, rtol=1e-6)  # σ̂y − b
    np.testing.assert_allclose(params["components"][..., 4], y_hat[:, 10:12])  # ρ̂
    np.testing.assert_allclose(params["eos_logit"], y_hat[:, 12])
    points = keras.ops.convert_to_numpy(head.sample(y_hat, bias=0.5, seed=3))
    assert points.shape == (4, 3) and set(np.unique(points[:, 2])) <= {0.0, 1.0}


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="num_components >= 1"):
        MixtureDensityHead(0)
    assert MixtureDensityHead(20).compute_output_shape((None, 7, 64)) == (None, 7, 121)
