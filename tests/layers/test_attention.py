"""Attention against NumPy references of its formulas: scaled dot-product attention and the
causal mask, keras.layers.MultiHeadAttention with padding and causal masks (as documented),
Bahdanau and Luong attention with padding masks, fully masked rows, and run_layer_test."""

import keras
import numpy as np
import pytest

from kerasseq.layers import (BahdanauAttention, LuongAttention, causal_mask,
                             scaled_dot_product_attention)
from testing import run_layer_test

BATCH, TQ, TV = 3, 4, 5
# Source lengths 5, 2 and 0: the last sequence has no valid step (a fully masked row).
SOURCE_MASK = np.arange(TV)[None, :] < np.array([5, 2, 0])[:, None]  # (batch, Tv)


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _rng():
    return np.random.default_rng(0)


# ----------------------------------------------------------------------------- references
def numpy_softmax(scores, mask=None):
    """Softmax over the unmasked entries of the last axis; 0 on masked ones and on empty rows."""
    scores = scores.astype("float64")
    mask = np.ones(scores.shape, bool) if mask is None else np.broadcast_to(mask, scores.shape)
    out = np.zeros(scores.shape)
    for index in np.ndindex(scores.shape[:-1]):
        keep = mask[index]
        if keep.any():
            e = np.exp(scores[index][keep] - scores[index][keep].max())
            out[index][keep] = e / e.sum()
    return out


def numpy_attention(q, k, v, mask=None):
    """softmax(Q Kᵀ / √d_k) V over the last two axes."""
    weights = numpy_softmax(q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]), mask)
    return weights @ v, weights


def numpy_multi_head_attention(layer, query, value, mask=None, key=None):
    """keras.layers.MultiHeadAttention's math with its weights: heads of
    softmax(Q_h K_hᵀ/√d_k) V_h, concatenated and projected (keys from ``key``, default
    ``value``). Returns (output, (batch, heads, Tq, Tk))."""
    w = {name: [_numpy(t).astype("float64") for t in dense.weights]
         for name, dense in (("q", layer._query_dense), ("k", layer._key_dense),
                             ("v", layer._value_dense), ("o", layer._output_dense))}
    q = np.einsum("btd,dhk->bhtk", query, w["q"][0]) + w["q"][1][:, None, :]
    k = np.einsum("bsd,dhk->bhsk", value if key is None else key, w["k"][0]) + w["k"][1][:, None, :]
    v = np.einsum("bsd,dhk->bhsk", value, w["v"][0]) + w["v"][1][:, None, :]
    heads, weights = numpy_attention(q, k, v, None if mask is None else mask[:, None])
    return np.einsum("bhtk,hkd->btd", heads, w["o"][0]) + w["o"][1], weights


def _check_weights(weights, mask):
    """Weights are 0 on masked positions and sum to 1 over the unmasked ones of each row."""
    mask = np.broadcast_to(mask, weights.shape)
    np.testing.assert_array_equal(weights[~mask], 0.0)
    sums = weights.sum(-1)
    np.testing.assert_allclose(sums[mask.any(-1)], 1.0, atol=1e-5)
    np.testing.assert_array_equal(sums[~mask.any(-1)], 0.0)


# ----------------------------------------------------------------------- scaled dot-product
def test_causal_mask():
    np.testing.assert_array_equal(_numpy(causal_mask(4, 4)), np.tril(np.ones((4, 4), bool)))
    # Queries = the last 2 of 5 positions (a cache of 3): query i is position 3 + i.
    expected = np.arange(5)[None, :] <= np.arange(3, 5)[:, None]
    np.testing.assert_array_equal(_numpy(causal_mask(2, 5, offset=3)), expected)


@pytest.mark.parametrize("masking", ["none", "padding", "causal", "both"])
def test_scaled_dot_product_attention_matches_numpy(masking):
    rng = _rng()
    q = rng.normal(size=(BATCH, 2, TQ, 3)).astype("float32")  # (batch, heads, Tq, d_k)
    k = rng.normal(size=(BATCH, 2, TV, 3)).astype("float32")
    v = rng.normal(size=(BATCH, 2, TV, 6)).astype("float32")
    padding = SOURCE_MASK[:, None, None, :]  # (batch, 1, 1, Tv)
    causal = np.arange(TV)[None, :] <= np.arange(TQ)[:, None]  # (Tq, Tv)
    mask = {"none": None, "padding": padding, "causal": causal, "both": padding & causal}[masking]
    output, weights = scaled_dot_product_attention(q, k, v, mask)
    expected_output, expected_weights = numpy_attention(q, k, v, mask)
    np.testing.assert_allclose(_numpy(weights), expected_weights, atol=1e-6)
    np.testing.assert_allclose(_numpy(output), expected_output, atol=1e-5)
    _check_weights(_numpy(weights), np.ones(weights.shape, bool) if mask is None else mask)
    if masking in ("padding", "both"):  # the empty source gives zero weights and outputs, not NaN
        np.testing.assert_array_equal(_numpy(output)[2], 0.0)
    if masking == "causal":
        np.testing.assert_allclose(_numpy(weights)[..., 0, 0], 1.0)  # the first query sees itself only


@pytest.mark.parametrize("masking", ["none", "padding", "causal", "both"])
@pytest.mark.parametrize("heads", [None, 2])
def test_fused_attention_without_weights_matches_numpy(masking, heads):
    """return_weights=False (keras.ops.dot_product_attention underneath) gives the explicit
    path's outputs, zero rows for queries with no key included, with and without a heads axis."""
    rng = _rng()
    shape = (BATCH,) if heads is None else (BATCH, heads)
    q = rng.normal(size=(*shape, TQ, 4)).astype("float32")
    k = rng.normal(size=(*shape, TV, 4)).astype("float32")
    v = rng.normal(size=(*shape, TV, 4)).astype("float32")
    padding = SOURCE_MASK[:, None, :] if heads is None else SOURCE_MASK[:, None, None, :]
    causal = np.arange(TV)[None, :] <= np.arange(TQ)[:, None]
    mask = {"none": None, "padding": padding, "causal": causal, "both": padding & causal}[masking]
    output, weights = scaled_dot_product_attention(q, k, v, mask, return_weights=False)
    assert weights is None
    np.testing.assert_allclose(_numpy(output), numpy_attention(q, k, v, mask)[0], atol=1e-5)
    if masking in ("padding", "both"):
        np.testing.assert_array_equal(_numpy(output)[2], 0.0)


def test_attention_without_weights_falls_back_when_value_size_differs():
    rng = _rng()
    q, k = (rng.normal(size=(BATCH, 2, t, 3)).astype("float32") for t in (TQ, TV))
    v = rng.normal(size=(BATCH, 2, TV, 6)).astype("float32")
    output, weights = scaled_dot_product_attention(q, k, v, return_weights=False)
    assert weights is None
    np.testing.assert_allclose(_numpy(output), numpy_attention(q, k, v)[0], atol=1e-5)


def test_keras_multi_head_attention_masks_match_numpy():
    """keras.layers.MultiHeadAttention: attention_mask (True = attend) and use_causal_mask
    combine by AND as softmax(QKᵀ/√d_k) with our mask; fully masked rows get zero weights
    when the weights are returned; the fused path (no weights returned) agrees on every row
    that has a valid key and stays finite on the others."""
    rng = _rng()
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    query = rng.normal(size=(BATCH, TV, 4)).astype("float32")
    padding = SOURCE_MASK[:, None, :]  # (batch, 1, Tv)
    output, weights = layer(query, query, attention_mask=padding, use_causal_mask=True,
                            return_attention_scores=True)
    mask = padding & _numpy(causal_mask(TV, TV))[None]  # (batch, Tq, Tv)
    expected_output, expected_weights = numpy_multi_head_attention(layer, query, query, mask)
    np.testing.assert_allclose(_numpy(weights), expected_weights, atol=1e-6)
    np.testing.assert_allclose(_numpy(output), expected_output, atol=1e-5)
    _check_weights(_numpy(weights), mask[:, None])

    fused = _numpy(layer(query, query, attention_mask=padding, use_causal_mask=True))
    assert np.isfinite(fused).all()
    valid = mask.any(-1)  # (batch, Tq): queries with at least one key
    np.testing.assert_allclose(fused[valid], expected_output[valid], atol=1e-5)


# ----------------------------------------------------------------------- Bahdanau and Luong
def numpy_recurrent_attention(layer, query, values, mask):
    """e = v_aᵀ tanh(W_a s + U_a h) (Bahdanau), sᵀh (dot) or sᵀ W_a h (general); softmax; Σ α h."""
    w = {v.name: _numpy(v).astype("float64") for v in layer.weights}
    if isinstance(layer, BahdanauAttention):
        hidden = np.tanh((query @ w["query_kernel"])[:, :, None] + (values @ w["key_kernel"])[:, None])
        scores = hidden @ w["score_kernel"]
    elif layer.score == "dot":
        scores = query @ np.swapaxes(values, 1, 2)
    else:
        scores = query @ w["kernel"] @ np.swapaxes(values, 1, 2)
    weights = numpy_softmax(scores, mask[:, None, :])
    return weights @ values, weights


LAYERS = {"bahdanau": lambda: BahdanauAttention(7), "dot": lambda: LuongAttention("dot"),
          "general": lambda: LuongAttention("general")}


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_recurrent_attention_matches_numpy(kind):
    rng = _rng()
    layer = LAYERS[kind]()
    query_dim = 6 if kind == "dot" else 4
    query = rng.normal(size=(BATCH, TQ, query_dim)).astype("float32")
    values = rng.normal(size=(BATCH, TV, 6)).astype("float32")
    context, weights = layer([query, values], mask=[None, SOURCE_MASK])
    expected_context, expected_weights = numpy_recurrent_attention(layer, query, values, SOURCE_MASK)
    np.testing.assert_allclose(_numpy(weights), expected_weights, atol=1e-6)
    np.testing.assert_allclose(_numpy(context), expected_context, atol=1e-5)
    _check_weights(_numpy(weights), SOURCE_MASK[:, None, :])
    np.testing.assert_array_equal(_numpy(context)[2], 0.0)  # empty source: zero context

    # One decoder step (batch, units), with the keys computed once, is row t of the above.
    keys = layer.compute_keys(values)
    for t in range(TQ):
        step_context, step_weights = layer([query[:, t], values, keys], mask=[None, SOURCE_MASK, None])
        np.testing.assert_allclose(_numpy(step_weights), _numpy(weights)[:, t], atol=1e-6)
        np.testing.assert_allclose(_numpy(step_context), _numpy(context)[:, t], atol=1e-6)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_recurrent_attention_reads_keras_masks(kind):
    """Source padding from Embedding(mask_zero=True) reaches the layer through a Keras model;
    the context carries the query's mask."""
    source = keras.Input((None,), dtype="int32")
    target = keras.Input((None,), dtype="int32")
    embed = keras.layers.Embedding(10, 6, mask_zero=True)
    layer = LAYERS[kind]()
    context, weights = layer([embed(target), embed(source)])
    assert keras.src.backend.get_keras_mask(context) is not None
    model = keras.Model([target, source], weights)
    source_ids = np.where(SOURCE_MASK, 3, 0)
    target_ids = np.ones((BATCH, TQ), "int32")
    expected = layer([_numpy(embed(target_ids)), _numpy(embed(source_ids))], mask=[None, SOURCE_MASK])[1]
    np.testing.assert_allclose(_numpy(model([target_ids, source_ids])), _numpy(expected), atol=1e-6)


def test_recurrent_attention_arguments():
    with pytest.raises(ValueError, match="units"):
        BahdanauAttention(0)
    with pytest.raises(ValueError, match="score"):
        LuongAttention("concat")
    with pytest.raises(ValueError, match="equal size"):
        LuongAttention("dot")([np.zeros((1, 3), "float32"), np.zeros((1, 2, 4), "float32")])
    with pytest.raises(ValueError, match="query, values"):
        BahdanauAttention(2)(np.zeros((1, 2, 4), "float32"))


@pytest.mark.parametrize("kind, num_weights, query_dim", [
    ("bahdanau", 3, 4), ("general", 1, 4), ("dot", 0, 6)])
def test_recurrent_attention_layer_test(kind, num_weights, query_dim, tmp_path):
    rng = _rng()
    query = rng.normal(size=(2, 3, query_dim)).astype("float32")
    values = rng.normal(size=(2, TV, 6)).astype("float32")
    init = {"bahdanau": {"units": 5}, "general": {"score": "general"}, "dot": {"score": "dot"}}[kind]
    run_layer_test(BahdanauAttention if kind == "bahdanau" else LuongAttention, init,
                   [query, values], expected_output_shape=[(2, 3, 6), (2, 3, TV)],
                   expected_num_trainable_weights=num_weights, run_fit=num_weights > 0,
                   tmp_path=tmp_path)
