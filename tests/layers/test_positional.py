"""Position encodings against the formula written out term by term, keras-hub's sine encoding,
start offsets, masks and run_layer_test."""

import keras
import numpy as np
import pytest

from kerasseq.layers import PositionEmbedding, SinusoidalPositionalEncoding, sinusoidal_encoding
from testing import run_layer_test


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def numpy_sinusoidal(positions, depth):
    """PE(pos, 2i) = sin(pos / 10000^{2i/d}), PE(pos, 2i+1) = cos(pos / 10000^{2i/d}), term by term."""
    pe = np.zeros((len(positions), depth))
    for row, pos in enumerate(positions):
        for i in range(depth):
            angle = pos / 10000 ** (2 * (i // 2) / depth)
            pe[row, i] = np.sin(angle) if i % 2 == 0 else np.cos(angle)
    return pe


@pytest.mark.parametrize("depth", [6, 7])
def test_sinusoidal_encoding_matches_formula(depth):
    np.testing.assert_allclose(_numpy(sinusoidal_encoding(5, depth)),
                               numpy_sinusoidal(range(5), depth), atol=1e-6)
    np.testing.assert_allclose(_numpy(sinusoidal_encoding(3, depth, start_index=40)),
                               numpy_sinusoidal(range(40, 43), depth), atol=1e-5)


def test_sinusoidal_layer_adds_encoding_with_offset():
    x = np.random.default_rng(0).normal(size=(2, 4, 6)).astype("float32")
    layer = SinusoidalPositionalEncoding()
    np.testing.assert_allclose(_numpy(layer(x)), x + numpy_sinusoidal(range(4), 6), atol=1e-6)
    # Incremental decoding: step t alone with start_index=t equals row t of the whole sequence.
    for t in range(4):
        step = layer(x[:, t:t + 1], start_index=keras.ops.convert_to_tensor(t))
        np.testing.assert_allclose(_numpy(step), _numpy(layer(x))[:, t:t + 1], atol=1e-6)


def test_sinusoidal_matches_keras_hub():
    """keras-hub's SinePositionEncoding returns (does not add) the same interleaved encoding."""
    keras_hub = pytest.importorskip("keras_hub")
    x = np.zeros((1, 5, 8), "float32")
    expected = keras_hub.layers.SinePositionEncoding()(x, start_index=3)
    np.testing.assert_allclose(_numpy(SinusoidalPositionalEncoding()(x, start_index=3)),
                               _numpy(expected), atol=1e-6)


def test_position_embedding_adds_rows_of_table():
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    layer = PositionEmbedding(6, embeddings_initializer="random_normal")
    out = _numpy(layer(x))
    table = _numpy(layer.embeddings)
    np.testing.assert_allclose(out, x + table[:3], atol=1e-6)
    np.testing.assert_allclose(_numpy(layer(x, start_index=2)), x + table[2:5], atol=1e-6)
    with pytest.raises(ValueError, match="max_length"):
        layer(x, start_index=4)
    with pytest.raises(ValueError, match="max_length"):
        PositionEmbedding(2)(x)
    with pytest.raises(ValueError, match="max_length"):
        PositionEmbedding(0)
    with pytest.raises(ValueError, match="max_wavelength"):
        SinusoidalPositionalEncoding(max_wavelength=1)


@pytest.mark.parametrize("layer", [SinusoidalPositionalEncoding(), PositionEmbedding(8)])
def test_positions_keep_keras_mask(layer):
    tokens = keras.Input((None,), dtype="int32")
    x = layer(keras.layers.Embedding(10, 4, mask_zero=True)(tokens))
    assert keras.src.backend.get_keras_mask(x) is not None


def test_sinusoidal_layer_test(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    run_layer_test(SinusoidalPositionalEncoding, {"max_wavelength": 100.0}, x,
                   expected_output_shape=(2, 3, 4), expected_num_trainable_weights=0,
                   run_fit=False, tmp_path=tmp_path)


def test_position_embedding_layer_test(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    run_layer_test(PositionEmbedding, {"max_length": 5}, x, expected_output_shape=(2, 3, 4),
                   expected_num_trainable_weights=1, tmp_path=tmp_path)


def _compiled(fn):
    """``fn(x, start_index)`` compiled with the length and the start unknown when traced."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn, input_signature=[tf.TensorSpec([None, None, 4], tf.float32),
                                            tf.TensorSpec([], tf.int32)])


@pytest.mark.parametrize("cls", [SinusoidalPositionalEncoding, PositionEmbedding])
def test_compiled_with_traced_start_index(cls):
    layer = cls(8) if cls is PositionEmbedding else cls()
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    eager = _numpy(layer(x, start_index=2))
    compiled = _compiled(lambda x, start: layer(x, start_index=start))
    np.testing.assert_allclose(_numpy(compiled(x, np.int32(2))), eager, atol=1e-6)
