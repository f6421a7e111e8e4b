"""Transformer blocks against a NumPy reference built from their weights (post-LN and pre-LN,
padding and causal masks), causality, cross-attention weights, Keras masks and run_layer_test."""

import keras
import numpy as np
import pytest

from kerasseq.layers import TransformerDecoderBlock, TransformerEncoderBlock
from test_attention import _check_weights, numpy_multi_head_attention
from testing import run_layer_test

BATCH, TQ, TV, DIM = 2, 4, 5, 6
TARGET_MASK = np.arange(TQ)[None, :] < np.array([4, 2])[:, None]  # (batch, Tq)
SOURCE_MASK = np.arange(TV)[None, :] < np.array([5, 3])[:, None]  # (batch, Tv)


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _inputs():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(BATCH, TQ, DIM)).astype("float32"),
            rng.normal(size=(BATCH, TV, DIM)).astype("float32"))


# ----------------------------------------------------------------------------- references
def _layer_norm(layer, x):
    gamma, beta = (_numpy(w).astype("float64") for w in layer.weights)
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + layer.epsilon) * gamma + beta


def _sublayer(block, x, function, norm):
    """post-LN: LN(x + F(x)); pre-LN: x + F(LN(x)) (dropout off)."""
    if block.norm_first:
        return x + function(_layer_norm(norm, x))
    return _layer_norm(norm, x + function(x))


def _feedforward(block, x):
    w1, b1 = (_numpy(w) for w in block.feedforward_intermediate.weights)
    w2, b2 = (_numpy(w) for w in block.feedforward_output.weights)
    return _sublayer(block, x, lambda y: np.maximum(y @ w1 + b1, 0) @ w2 + b2, block.feedforward_norm)


def numpy_encoder(block, x, mask):
    attention_mask = np.broadcast_to(mask[:, None, :], (len(x), x.shape[1], x.shape[1]))
    x = _sublayer(block, x, lambda y: numpy_multi_head_attention(
        block.self_attention, y, y, attention_mask)[0], block.self_attention_norm)
    return _feedforward(block, x)


def numpy_decoder(block, target, source, target_mask, source_mask):
    causal = np.tril(np.ones((target.shape[1], target.shape[1]), bool))
    x = _sublayer(block, target, lambda y: numpy_multi_head_attention(
        block.self_attention, y, y, target_mask[:, None, :] & causal)[0], block.self_attention_norm)
    cross = np.broadcast_to(source_mask[:, None, :], (len(x), x.shape[1], source.shape[1]))
    _, weights = numpy_multi_head_attention(block.cross_attention, _layer_norm(
        block.cross_attention_norm, x) if block.norm_first else x, source, cross)
    x = _sublayer(block, x, lambda y: numpy_multi_head_attention(
        block.cross_attention, y, source, cross)[0], block.cross_attention_norm)
    return _feedforward(block, x), weights


# ----------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_block_matches_numpy(norm_first):
    x, _ = _inputs()
    block = TransformerEncoderBlock(2, 8, norm_first=norm_first, dropout=0.1)
    out = _numpy(block(x, mask=TARGET_MASK))  # inference: no dropout
    np.testing.assert_allclose(out, numpy_encoder(block, x.astype("float64"), TARGET_MASK), atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_block_matches_numpy(norm_first):
    target, source = _inputs()
    block = TransformerDecoderBlock(2, 8, norm_first=norm_first)
    out, weights = block([target, source], mask=[TARGET_MASK, SOURCE_MASK],
                         return_attention_scores=True)
    expected, expected_weights = numpy_decoder(block, target.astype("float64"), source,
                                               TARGET_MASK, SOURCE_MASK)
    np.testing.assert_allclose(_numpy(out), expected, atol=1e-5)
    assert weights.shape == (BATCH, 2, TQ, TV)
    np.testing.assert_allclose(_numpy(weights), expected_weights, atol=1e-5)
    _check_weights(_numpy(weights), SOURCE_MASK[:, None, None, :])
    # Without the weights (Keras' fused attention path) the output is the same.
    np.testing.assert_allclose(_numpy(block([target, source], mask=[TARGET_MASK, SOURCE_MASK])),
                               _numpy(out), atol=1e-5)


def test_decoder_is_causal_and_ignores_padding():
    target, source = _inputs()
    block = TransformerDecoderBlock(2, 8)
    out = _numpy(block([target, source], mask=[None, SOURCE_MASK]))
    changed_target = target.copy()
    changed_target[:, 2:] += 1.0  # future positions
    changed_source = source.copy()
    changed_source[~SOURCE_MASK] = 9.0  # padded source positions
    changed = _numpy(block([changed_target, changed_source], mask=[None, SOURCE_MASK]))
    np.testing.assert_allclose(changed[:, :2], out[:, :2], atol=1e-5)
    assert not np.allclose(changed[:, 2:], out[:, 2:])


def test_blocks_read_keras_masks_and_keep_them():
    """Padding from Embedding(mask_zero=True) reaches both blocks, and calling them leaves the
    source's mask in place for later layers (MultiHeadAttention deletes its inputs' masks)."""
    source, target = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    embed = keras.layers.Embedding(10, DIM, mask_zero=True)
    encoder, decoder = TransformerEncoderBlock(2, 8), TransformerDecoderBlock(2, 8)
    encoded = encoder(embed(source))
    decoded, weights = decoder([embed(target), encoded], return_attention_scores=True)
    assert keras.src.backend.get_keras_mask(decoded) is not None
    second = keras.layers.Attention()  # reads `encoded`'s mask after the decoder ran
    _, second_weights = second([decoded, encoded], return_attention_scores=True)
    model = keras.Model([target, source], [decoded, weights, second_weights])
    target_ids, source_ids = np.where(TARGET_MASK, 3, 0), np.where(SOURCE_MASK, 4, 0)
    decoded, weights, second_weights = model([target_ids, source_ids])
    _check_weights(_numpy(weights), SOURCE_MASK[:, None, None, :])
    assert np.all(_numpy(second_weights)[~np.broadcast_to(SOURCE_MASK[:, None], (BATCH, TQ, TV))] == 0)
    embedded_source = _numpy(embed(source_ids))
    explicit = decoder([_numpy(embed(target_ids)), encoder(embedded_source, mask=SOURCE_MASK)],
                       mask=[TARGET_MASK, SOURCE_MASK])
    np.testing.assert_allclose(_numpy(decoded)[TARGET_MASK], _numpy(explicit)[TARGET_MASK], atol=1e-5)


def test_block_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        TransformerEncoderBlock(0, 8)
    with pytest.raises(ValueError, match="dropout"):
        TransformerDecoderBlock(2, 8, dropout=1.0)
    with pytest.raises(ValueError, match="divisible"):
        TransformerEncoderBlock(4, 8)(np.zeros((1, 2, DIM), "float32"))
    with pytest.raises(ValueError, match="target, source"):
        TransformerDecoderBlock(2, 8)(np.zeros((1, 2, DIM), "float32"))


def test_dropout_in_training_only():
    x, _ = _inputs()
    block = TransformerEncoderBlock(2, 8, dropout=0.5, attention_dropout=0.5, seed=1)
    assert np.allclose(_numpy(block(x)), _numpy(block(x, training=False)))
    assert not np.allclose(_numpy(block(x, training=True)), _numpy(block(x)))


def test_encoder_block_layer_test(tmp_path):
    x, _ = _inputs()
    run_layer_test(TransformerEncoderBlock, {"num_heads": 2, "intermediate_dim": 8, "dropout": 0.1,
                                             "norm_first": True, "seed": 3},
                   x, expected_output_shape=(BATCH, TQ, DIM), expected_num_trainable_weights=16,
                   tmp_path=tmp_path, atol=1e-5)


def test_decoder_block_layer_test(tmp_path):
    run_layer_test(TransformerDecoderBlock, {"num_heads": 2, "intermediate_dim": 8,
                                             "activation": "gelu"},
                   list(_inputs()), expected_output_shape=(BATCH, TQ, DIM),
                   expected_num_trainable_weights=26, tmp_path=tmp_path, atol=1e-5)
