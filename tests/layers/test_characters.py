"""CharacterEncoder: per-word CNN or BiLSTM over characters, any number of words."""

import keras
import numpy as np
import pytest

from kerasseq.layers.characters import CharacterEncoder
from testing import run_layer_test

X = np.random.default_rng(0).normal(size=(2, 3, 5, 4)).astype("float32")  # (batch, words, chars, dim)


@pytest.mark.parametrize("kind, width, weights", [("cnn", 6, 2), ("lstm", 12, 6)])
def test_character_encoder_layer(kind, width, weights, tmp_path):
    run_layer_test(CharacterEncoder, {"kind": kind, "units": 6, "window": 3}, X,
                   expected_output_shape=(2, 3, width), expected_num_trainable_weights=weights,
                   tmp_path=tmp_path, atol=1e-5)


def test_cnn_is_max_over_characters_of_a_tanh_convolution():
    layer = CharacterEncoder("cnn", 4, window=3)
    out = keras.ops.convert_to_numpy(layer(X))
    kernel, bias = [keras.ops.convert_to_numpy(w) for w in layer.encoder.weights]
    padded = np.pad(X, ((0, 0), (0, 0), (1, 1), (0, 0)))
    conv = np.stack([np.einsum("bwkd,kdf->bwf", padded[:, :, i:i + 3], kernel) for i in range(5)], 2)
    np.testing.assert_allclose(out, np.tanh(conv + bias).max(2), atol=1e-5)


def test_each_word_is_encoded_independently():
    layer = CharacterEncoder("lstm", 3)
    out = keras.ops.convert_to_numpy(layer(X))
    alone = keras.ops.convert_to_numpy(layer(X[:, 1:2]))
    np.testing.assert_allclose(out[:, 1:2], alone, atol=1e-5)


def test_bad_kind():
    with pytest.raises(ValueError, match="kind 'cnn' or 'lstm'"):
        CharacterEncoder("gru")
