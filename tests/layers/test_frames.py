"""Frame-sequence layers: patch-to-depth and back, the forecaster's empty input, log scaling."""

import numpy as np
import pytest

from kerasseq.layers.frames import DepthToSpace, EmptyFrames, LogScaling, SpaceToDepth
from testing import run_layer_test


def _space_to_depth_reference(x, b):
    """tf.nn.space_to_depth's order, per frame: out[..., i, j, (r*b + c)*C + ch]."""
    n, t, h, w, ch = x.shape
    out = np.zeros((n, t, h // b, w // b, b * b * ch), x.dtype)
    for i in range(h // b):
        for j in range(w // b):
            for r in range(b):
                for c in range(b):
                    out[:, :, i, j, (r * b + c) * ch:(r * b + c + 1) * ch] = x[:, :, i * b + r, j * b + c]
    return out


def test_space_to_depth_matches_the_reference_and_depth_to_space_inverts_it():
    x = np.random.default_rng(0).normal(size=(2, 3, 8, 12, 2)).astype("float32")
    folded = np.asarray(SpaceToDepth(4)(x))
    np.testing.assert_array_equal(folded, _space_to_depth_reference(x, 4))
    np.testing.assert_array_equal(np.asarray(DepthToSpace(4)(folded)), x)


def test_space_to_depth_is_tensorflows_per_frame():
    tf = pytest.importorskip("tensorflow")
    x = np.random.default_rng(1).normal(size=(2, 3, 8, 8, 3)).astype("float32")
    expected = tf.nn.space_to_depth(x.reshape(6, 8, 8, 3), 2).numpy().reshape(2, 3, 4, 4, 12)
    np.testing.assert_array_equal(np.asarray(SpaceToDepth(2)(x)), expected)


def test_empty_frames_and_log_scaling():
    zeros = np.asarray(EmptyFrames(7, channels=2)(np.ones((3, 5, 4, 4, 9), "float32")))
    assert zeros.shape == (3, 7, 4, 4, 2) and not zeros.any()
    rain = np.array([0.0, 0.5, 2.0, 100.0, 150.0], "float32")
    scaled = np.asarray(LogScaling(100.0)(rain))
    np.testing.assert_allclose(scaled, np.log1p(rain) / np.log1p(100.0), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(LogScaling(100.0, inverse=True)(scaled)), rain, rtol=1e-4)
    assert float(np.asarray(LogScaling(100.0, inverse=True)(np.array([-0.5], "float32")))[0]) == 0.0


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="block_size"):
        SpaceToDepth(0)
    with pytest.raises(ValueError, match="divisible"):
        SpaceToDepth(4)(np.zeros((1, 2, 6, 8, 1), "float32"))
    with pytest.raises(ValueError, match="frames"):
        EmptyFrames(0)
    with pytest.raises(ValueError, match="max_value"):
        LogScaling(0.0)


@pytest.mark.parametrize("layer, kwargs, shape, expected", [
    (SpaceToDepth, {"block_size": 2}, (2, 3, 4, 4, 1), (2, 3, 2, 2, 4)),
    (DepthToSpace, {"block_size": 2}, (2, 3, 2, 2, 4), (2, 3, 4, 4, 1)),
    (EmptyFrames, {"frames": 4, "channels": 1}, (2, 3, 2, 2, 5), (2, 4, 2, 2, 1)),
    (LogScaling, {"max_value": 50.0, "inverse": False}, (2, 3, 4), (2, 3, 4)),
])
def test_layer_contract(layer, kwargs, shape, expected, tmp_path):
    x = np.abs(np.random.default_rng(0).normal(size=shape)).astype("float32")
    run_layer_test(layer, kwargs, x, expected_output_shape=expected,
                   expected_num_trainable_weights=0, run_fit=False, tmp_path=tmp_path)
