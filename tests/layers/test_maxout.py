"""Maxout: the group maximum against NumPy, masks pass through, errors, .keras round trip."""

import keras
import numpy as np
import pytest

from kerasseq.layers import Maxout


def test_group_maximum_matches_numpy():
    x = np.random.default_rng(0).normal(size=(2, 3, 8)).astype("float32")
    out = keras.ops.convert_to_numpy(Maxout(2)(x))
    np.testing.assert_array_equal(out, x.reshape(2, 3, 4, 2).max(-1))
    assert Maxout(4).compute_output_shape((None, None, 8)) == (None, None, 2)


def test_rejects_bad_pool_sizes():
    with pytest.raises(ValueError, match="pool_size"):
        Maxout(0)
    with pytest.raises(ValueError, match="divisible"):
        Maxout(3)(np.zeros((1, 4), "float32"))


def test_keeps_the_mask_and_round_trips(tmp_path):
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 6, mask_zero=True)(ids)
    y = Maxout(3, name="maxout")(x)
    model = keras.Model(ids, y)
    assert model.get_layer("maxout").supports_masking
    data = np.array([[1, 2, 0]], "int32")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(data)),
                               keras.ops.convert_to_numpy(model(data)), atol=1e-6)
