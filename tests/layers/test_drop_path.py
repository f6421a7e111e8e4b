"""StochasticDepth: identity at inference, whole samples dropped and rescaled in training."""

import numpy as np
import pytest

from kerasseq.layers import StochasticDepth
from testing import run_layer_test


def test_identity_at_inference_and_per_sample_drops_in_training():
    x = np.ones((4000, 3, 2), "float32")
    layer = StochasticDepth(0.25, seed=1)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    y = np.asarray(layer(x, training=True))
    per_sample = y.reshape(len(y), -1)
    assert set(np.unique(per_sample)) == {0.0, np.float32(1 / 0.75)}
    assert (per_sample == per_sample[:, :1]).all()  # a sample is dropped whole or kept whole
    assert abs((per_sample[:, 0] == 0).mean() - 0.25) < 0.03
    assert abs(y.mean() - 1.0) < 0.05  # unbiased


def test_rejects_bad_rates():
    with pytest.raises(ValueError, match="rate"):
        StochasticDepth(1.0)


def test_layer_contract(tmp_path):
    run_layer_test(StochasticDepth, {"rate": 0.1, "seed": 0},
                   np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32"),
                   expected_output_shape=(2, 5, 4), expected_num_trainable_weights=0,
                   expected_num_non_trainable_weights=0, run_fit=False, tmp_path=tmp_path)
