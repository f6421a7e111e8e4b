"""Caption decoders: Show, Attend and Tell's step against a NumPy reference of its formulas,
teacher forcing equal to step-by-step decoding, the doubly stochastic regulariser, and the
shared layer checks (config, fit, .keras round trip)."""

import keras
import numpy as np
import pytest

from kerasseq.layers import ShowAndTellDecoder, SoftAttentionDecoder
from testing import run_layer_test

VOCAB, T, L, D = 12, 5, 4, 6


def _inputs(seed=0, batch=3):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(batch, L, D)).astype("float32")
    tokens = rng.integers(2, VOCAB, (batch, T)).astype("int32")
    tokens[0, 3:] = 0  # a padded caption
    return features, tokens


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _numpy_soft_attention_step(layer, features, h, c, token):
    """One step of Xu et al. 2015 eqs. 4-7 (with the reference code's tanh in the deep
    output), from the layer's weights."""
    w = {v.path.split("/", 1)[1]: keras.ops.convert_to_numpy(v) for v in layer.weights}
    mean = features.mean(1)
    del mean  # (h, c given)
    keys = features @ w["attention/key_kernel"]
    e = np.tanh((h @ w["attention/query_kernel"])[:, None, :] + keys) @ w["attention/score_kernel"]
    alpha = np.exp(e - e.max(1, keepdims=True))
    alpha /= alpha.sum(1, keepdims=True)
    beta = _sigmoid(h @ w["beta/kernel"] + w["beta/bias"])
    z = beta * (alpha[..., None] * features).sum(1)
    y = w["embedding/embeddings"][token]
    gates = np.concatenate([y, z], -1) @ w["lstm/kernel"] + h @ w["lstm/recurrent_kernel"] + w["lstm/bias"]
    i, f, g, o = np.split(gates, 4, axis=-1)
    c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    h = _sigmoid(o) * np.tanh(c)
    hidden = np.tanh(y + h @ w["deep_output_h/kernel"] + w["deep_output_h/bias"] + z @ w["deep_output_z/kernel"])
    return hidden @ w["logits/kernel"] + w["logits/bias"], alpha, h, c


def test_soft_attention_step_matches_the_paper_formulas():
    features, tokens = _inputs()
    layer = SoftAttentionDecoder(VOCAB, embedding_dim=4, units=5, attention_units=3)
    layer([features, tokens])
    cache = layer.initial_cache(features)
    w = {v.path.split("/", 1)[1]: keras.ops.convert_to_numpy(v) for v in layer.weights}
    h0 = np.tanh(features.mean(1) @ w["init_h/kernel"] + w["init_h/bias"])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(cache["h"]), h0, atol=1e-5)
    logits, alpha, cache = layer.step(keras.ops.convert_to_tensor(tokens[:, 0]), cache)
    c0 = np.tanh(features.mean(1) @ w["init_c/kernel"] + w["init_c/bias"])
    ref_logits, ref_alpha, ref_h, _ = _numpy_soft_attention_step(layer, features, h0, c0, tokens[:, 0])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(alpha), ref_alpha, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(logits), ref_logits, atol=1e-4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(cache["h"]), ref_h, atol=1e-5)


@pytest.mark.parametrize("cls,kwargs", [
    (SoftAttentionDecoder, dict(embedding_dim=4, units=5, attention_units=3)),
    (SoftAttentionDecoder, dict(embedding_dim=4, units=5, attention_units=3, gate=False)),
    (ShowAndTellDecoder, dict(embedding_dim=4, units=5)),
    (ShowAndTellDecoder, dict(embedding_dim=4, units=5, image_as="state")),
])
def test_teacher_forcing_equals_step_by_step_decoding(cls, kwargs):
    features, tokens = _inputs(1)
    layer = cls(VOCAB, **kwargs)
    out = layer([features, tokens])
    forced = keras.ops.convert_to_numpy(out[0] if isinstance(out, list) else out)
    cache = layer.initial_cache(features)
    for t in range(T):
        logits, alpha, cache = layer.step(keras.ops.convert_to_tensor(tokens[:, t]), cache)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(logits), forced[:, t], atol=1e-4)
        if isinstance(out, list):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(alpha),
                                       keras.ops.convert_to_numpy(out[1])[:, t], atol=1e-5)


def test_doubly_stochastic_penalty_counts_unpadded_steps_only():
    features, tokens = _inputs(2)
    layer = SoftAttentionDecoder(VOCAB, embedding_dim=4, units=5, attention_units=3, regularizer=0.5)
    _, alphas = layer([features, tokens])
    alphas = keras.ops.convert_to_numpy(alphas)
    valid = (tokens != 0).astype("float32")
    totals = (alphas * valid[..., None]).sum(1)
    expected = 0.5 * np.square(1 - totals).sum() / valid.sum()
    penalty = layer.attention_penalty(keras.ops.convert_to_tensor(alphas), tokens)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(penalty)), expected, rtol=1e-5)
    # Added to the training loss only.
    layer([features, tokens], training=True)
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(layer.losses[0])), expected, rtol=1e-4)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="image_as"):
        ShowAndTellDecoder(VOCAB, image_as="output")
    with pytest.raises(ValueError, match="units"):
        SoftAttentionDecoder(VOCAB, units=0)
    with pytest.raises(ValueError, match="regularizer"):
        SoftAttentionDecoder(VOCAB, regularizer=-1.0)


def test_soft_attention_decoder_layer(tmp_path):
    features, tokens = _inputs(3)
    run_layer_test(SoftAttentionDecoder, dict(vocab_size=VOCAB, embedding_dim=4, units=5,
                                              attention_units=3),
                   [features, tokens], expected_output_shape=[(3, T, VOCAB), (3, T, L)],
                   run_mixed_precision=False, tmp_path=tmp_path, atol=1e-5)


def test_show_and_tell_decoder_layer(tmp_path):
    features, tokens = _inputs(4)
    run_layer_test(ShowAndTellDecoder, dict(vocab_size=VOCAB, embedding_dim=4, units=5),
                   [features, tokens], expected_output_shape=(3, T, VOCAB),
                   run_mixed_precision=False, tmp_path=tmp_path, atol=1e-5)
