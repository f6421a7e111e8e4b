"""ZeroMasked: masked steps become zeros and the mask stops there."""

import keras
import numpy as np

from kerasseq.layers.masking import ZeroMasked
from testing import run_layer_test


def test_zero_masked_layer(tmp_path):
    run_layer_test(ZeroMasked, {}, np.ones((2, 3, 4), "float32"), expected_output_shape=(2, 3, 4),
                   expected_num_trainable_weights=0, run_fit=False, tmp_path=tmp_path)


def test_zero_masked_zeroes_padding_and_drops_the_mask():
    tokens = np.array([[3, 4, 0], [5, 0, 0]], "int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(tokens)
    layer = ZeroMasked()
    y = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_array_equal(y[tokens == 0], 0.0)
    np.testing.assert_allclose(y[tokens != 0], keras.ops.convert_to_numpy(x)[tokens != 0])
    assert layer.compute_mask(x, keras.ops.convert_to_tensor(tokens != 0)) is None
