"""DETR's layers: the 2-D sine encoding against DETR's formula, the encoder and decoder
layers against a NumPy reference that adds positions to queries and keys, and
run_layer_test for each."""

import math

import keras
import numpy as np
import pytest

from kerasseq.layers import (DETRDecoderLayer, DETREncoderLayer, ObjectQueries,
                             SinePositionEmbedding2D, sine_position_encoding_2d)
from test_attention import numpy_multi_head_attention
from test_transformer import _feedforward, _layer_norm, _sublayer
from testing import run_layer_test

BATCH, TOKENS, QUERIES, DIM = 2, 6, 3, 8


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _mha(layer, query, key, value):
    """keras.layers.MultiHeadAttention with separate query, key and value inputs."""
    return numpy_multi_head_attention(layer, query, value, key=key)


def _inputs():
    rng = np.random.default_rng(0)
    return [rng.normal(size=shape).astype("float32") for shape in
            ((BATCH, QUERIES, DIM), (BATCH, TOKENS, DIM), (BATCH, QUERIES, DIM), (BATCH, TOKENS, DIM))]


def test_sine_encoding_follows_detr():
    """DETR's PositionEmbeddingSine at one cell, written out: channels [y | x], each
    sin/cos pairs of p·2π/(n + 1e-6) / 10000^(2⌊i/2⌋/(d/2))."""
    height, width, depth = 3, 5, 8
    encoding = sine_position_encoding_2d(height, width, depth)
    assert encoding.shape == (height, width, depth)
    row, col, half = 1, 3, depth // 2
    y = (row + 1) / (height + 1e-6) * 2 * math.pi
    x = (col + 1) / (width + 1e-6) * 2 * math.pi
    expected = []
    for p in (y, x):
        for i in range(half):
            angle = p / 10000 ** (2 * (i // 2) / half)
            expected.append(math.sin(angle) if i % 2 == 0 else math.cos(angle))
    np.testing.assert_allclose(encoding[row, col], expected, atol=1e-6)
    # Rows share the x half, columns share the y half.
    np.testing.assert_allclose(encoding[0, :, half:], encoding[2, :, half:])
    np.testing.assert_allclose(encoding[:, 0, :half], encoding[:, 4, :half])
    with pytest.raises(ValueError, match="multiple of 4"):
        sine_position_encoding_2d(2, 2, 6)


def test_sine_position_embedding_layer(tmp_path):
    features = np.zeros((BATCH, 3, 4, DIM), "float32")
    out = run_layer_test(SinePositionEmbedding2D, {}, features,
                         expected_output_shape=(BATCH, 3, 4, DIM), expected_num_trainable_weights=0,
                         run_fit=False, tmp_path=tmp_path)
    np.testing.assert_allclose(out[1], sine_position_encoding_2d(3, 4, DIM), atol=1e-6)
    assert SinePositionEmbedding2D(depth=16)(features).shape == (BATCH, 3, 4, 16)


def test_object_queries(tmp_path):
    memory = np.zeros((BATCH, TOKENS, DIM), "float32")
    out = run_layer_test(ObjectQueries, {"num_queries": 5, "depth": DIM}, memory,
                         expected_output_shape=(BATCH, 5, DIM), expected_num_trainable_weights=1,
                         tmp_path=tmp_path)
    np.testing.assert_array_equal(out[0], out[1])  # the same queries for every image
    with pytest.raises(ValueError, match="num_queries"):
        ObjectQueries(0, DIM)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_adds_positions_to_queries_and_keys(norm_first):
    _, memory, _, pos = _inputs()
    layer = DETREncoderLayer(2, 16, norm_first=norm_first, dropout=0.1)
    out, weights = layer([memory, pos], return_attention_scores=True)
    x, p = memory.astype("float64"), pos.astype("float64")

    def attend(y):
        return _mha(layer.self_attention, y + p, y + p, y)[0]

    expected = _feedforward(layer, _sublayer(layer, x, attend, layer.self_attention_norm))
    np.testing.assert_allclose(_numpy(out), expected, atol=1e-5)
    assert weights.shape == (BATCH, 2, TOKENS, TOKENS)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_numpy(norm_first):
    t, memory, query_pos, pos = _inputs()
    layer = DETRDecoderLayer(2, 16, norm_first=norm_first)
    out, weights = layer([t, memory, query_pos, pos], return_attention_scores=True)
    x, m, qp, p = (a.astype("float64") for a in (t, memory, query_pos, pos))
    x = _sublayer(layer, x, lambda y: _mha(layer.self_attention, y + qp, y + qp, y)[0],
                  layer.self_attention_norm)
    cross_input = _layer_norm(layer.cross_attention_norm, x) if norm_first else x
    _, expected_weights = _mha(layer.cross_attention, cross_input + qp, m + p, m)
    x = _sublayer(layer, x, lambda y: _mha(layer.cross_attention, y + qp, m + p, m)[0],
                  layer.cross_attention_norm)
    np.testing.assert_allclose(_numpy(out), _feedforward(layer, x), atol=1e-5)
    np.testing.assert_allclose(_numpy(weights), expected_weights, atol=1e-5)
    # Without the attention weights, the same output.
    np.testing.assert_allclose(_numpy(layer([t, memory, query_pos, pos])), _numpy(out), atol=1e-5)


def test_encoder_and_decoder_layers_round_trip(tmp_path):
    t, memory, query_pos, pos = _inputs()
    run_layer_test(DETREncoderLayer, {"num_heads": 2, "intermediate_dim": 16}, [memory, pos],
                   expected_output_shape=(BATCH, TOKENS, DIM), expected_num_trainable_weights=16,
                   tmp_path=tmp_path, atol=1e-5)
    run_layer_test(DETRDecoderLayer, {"num_heads": 2, "intermediate_dim": 16, "dropout": 0.1},
                   [t, memory, query_pos, pos], expected_output_shape=(BATCH, QUERIES, DIM),
                   expected_num_trainable_weights=26, tmp_path=tmp_path, atol=1e-5)


def test_layers_check_their_inputs():
    t, memory, query_pos, pos = _inputs()
    with pytest.raises(ValueError, match=r"\[x, pos\]"):
        DETREncoderLayer(2, 16)(memory)
    with pytest.raises(ValueError, match="query_pos"):
        DETRDecoderLayer(2, 16)([t, memory])
