"""The Transformer translation model: shapes, source masking, the inference decoder and the
decoding step function against the training model, cross-attention weights, .keras round trip."""

import keras
import numpy as np
import pytest

from kerasseq.models import build_transformer, build_transformer_inference, transformer_decoding

VOCAB, BATCH, HEADS = 20, 2, 2


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _model(norm_first=False):
    keras.utils.set_random_seed(0)
    return build_transformer(VOCAB, VOCAB + 1, num_layers=2, d_model=8, num_heads=HEADS,
                             intermediate_dim=16, dropout=0.1, norm_first=norm_first)


def _batch():
    rng = np.random.default_rng(0)
    source = rng.integers(4, VOCAB, (BATCH, 5)).astype("int32")
    source[1, 3:] = 0
    target = rng.integers(4, VOCAB, (BATCH, 4)).astype("int32")
    target[:, 0] = 2
    return source, target


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_shapes_masking_and_inference_models(norm_first):
    model = _model(norm_first)
    source, target = _batch()
    logits = _numpy(model({"source": source, "target_in": target}, training=False))
    assert logits.shape == (BATCH, 4, VOCAB + 1)
    padded = np.pad(source, ((0, 0), (0, 3)))
    np.testing.assert_allclose(
        _numpy(model({"source": padded, "target_in": target}, training=False)), logits, atol=1e-5)

    encoder, decoder = build_transformer_inference(model, attention_layer=0)
    cache = encoder(padded)
    out = decoder({"target_in": keras.ops.convert_to_tensor(target), **cache})
    np.testing.assert_allclose(_numpy(out["logits"]), logits, atol=1e-5)
    weights = _numpy(out["attention"])
    assert weights.shape == (BATCH, HEADS, 4, padded.shape[1])
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert np.all(weights[np.broadcast_to((padded == 0)[:, None, None, :], weights.shape)] == 0)

    # The cached decoding step, position after position, gives the training model's logits.
    step_fn, cache = transformer_decoding(encoder, decoder, padded, max_length=6)
    buffer = np.zeros((BATCH, 7), "int32")
    buffer[:, :4] = target
    for t in range(4):
        log_probs, cache = step_fn(keras.ops.convert_to_tensor(buffer), t, cache)
        expected = logits[:, t] - np.log(np.exp(logits[:, t]).sum(-1, keepdims=True))
        np.testing.assert_allclose(_numpy(log_probs), expected, atol=1e-4)


def test_save_load_round_trip(tmp_path):
    model = _model(norm_first=True)
    source, target = _batch()
    inputs = {"source": source, "target_in": target}
    model.save(tmp_path / "transformer.keras")
    loaded = keras.saving.load_model(tmp_path / "transformer.keras")
    np.testing.assert_allclose(_numpy(loaded(inputs)), _numpy(model(inputs)), atol=1e-6)
    encoder, decoder = build_transformer_inference(loaded)
    np.testing.assert_allclose(_numpy(decoder({"target_in": keras.ops.convert_to_tensor(target), **encoder(source)})["logits"]),
                               _numpy(model(inputs)), atol=1e-5)


def test_embeddings_are_scaled():
    model = _model()
    embedding = model.get_layer("source_embedding")
    table = _numpy(embedding.embeddings)
    np.testing.assert_allclose(_numpy(embedding(np.array([[5]]))), table[5][None, None] * np.sqrt(8),
                               rtol=1e-6)


def test_rejects_indivisible_heads():
    with pytest.raises(ValueError, match="num_heads"):
        build_transformer(10, 10, d_model=10, num_heads=3)
