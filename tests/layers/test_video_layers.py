"""PerFrame: an image layer over every frame, time folded into the batch."""

import keras
import numpy as np
import pytest

from kerasseq.layers.video import PerFrame
from testing import run_layer_test


def test_per_frame_layer(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 3, 8, 8, 1)).astype("float32")
    def per_frame_conv(**kwargs):  # a new inner layer each time, with the wrapper's dtype
        conv = keras.layers.Conv2D(4, 3, strides=2, padding="same", dtype=kwargs.get("dtype"))
        return PerFrame(conv, **kwargs)

    out = run_layer_test(per_frame_conv, {}, x,
                         expected_output_shape=(2, 3, 4, 4, 4), expected_num_trainable_weights=2,
                         tmp_path=tmp_path)
    assert out.shape == (2, 3, 4, 4, 4)


def test_per_frame_equals_the_layer_on_each_frame_and_time_distributed():
    x = np.random.default_rng(1).normal(size=(2, 5, 8, 8, 2)).astype("float32")
    inner = keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Conv2D(3, 3, padding="same"),
                              keras.layers.Flatten(), keras.layers.Dense(4)])
    out = keras.ops.convert_to_numpy(PerFrame(inner)(x))
    assert out.shape == (2, 5, 4)
    for t in range(5):
        np.testing.assert_allclose(out[:, t], keras.ops.convert_to_numpy(inner(x[:, t])), atol=1e-5)
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(keras.layers.TimeDistributed(inner)(x)),
                               atol=1e-5)


def test_per_frame_needs_static_frames():
    with pytest.raises(ValueError, match="static frame shape"):
        PerFrame(keras.layers.Dense(2)).build((None, 4, None))
