"""Recurrent encoder-decoders: shapes, source masking, the step decoder against teacher
forcing (same weights), .keras round trip, and a copy task learnt by the Bahdanau model."""

import keras
import numpy as np
import pytest

from kerasseq.decoding import greedy_decode
from kerasseq.models import build_seq2seq, build_seq2seq_inference, seq2seq_decoding

VOCAB, BATCH = 20, 2
CONFIGS = [(None, "gru", True), ("bahdanau", "gru", True), ("luong", "lstm", True),
           ("bahdanau", "lstm", False)]
IDS = [f"{a}-{c}-{'bi' if b else 'uni'}" for a, c, b in CONFIGS]


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _model(attention, cell, bidirectional):
    keras.utils.set_random_seed(0)
    return build_seq2seq(VOCAB, VOCAB + 1, embedding_dim=6, units=8, cell=cell,
                         attention=attention, bidirectional_encoder=bidirectional, dropout=0.2)


def _batch():
    rng = np.random.default_rng(0)
    source = rng.integers(4, VOCAB, (BATCH, 5)).astype("int32")
    source[1, 3:] = 0  # a shorter sentence
    target = rng.integers(4, VOCAB, (BATCH, 4)).astype("int32")
    target[:, 0] = 2  # BOS
    return source, target


@pytest.mark.parametrize("attention,cell,bidirectional", CONFIGS, ids=IDS)
def test_shapes_masking_and_step_decoder(attention, cell, bidirectional):
    model = _model(attention, cell, bidirectional)
    source, target = _batch()
    logits = _numpy(model({"source": source, "target_in": target}, training=False))
    assert logits.shape == (BATCH, 4, VOCAB + 1)
    assert not np.allclose(_numpy(model({"source": source, "target_in": target}, training=True)),
                           logits)  # dropout is on in training only

    # Extra source padding changes nothing (the mask reaches encoder and attention).
    padded = np.pad(source, ((0, 0), (0, 3)))
    np.testing.assert_allclose(
        _numpy(model({"source": padded, "target_in": target}, training=False)), logits, atol=1e-5)

    # The one-step decoder, fed the teacher's tokens, reproduces the teacher-forced logits.
    encoder, step = build_seq2seq_inference(model)
    cache = encoder(padded)
    assert _numpy(cache["source_mask"]).tolist() == (padded != 0).tolist()
    for t in range(target.shape[1]):
        out = step({"token": keras.ops.convert_to_tensor(target[:, t:t + 1]), **cache})
        np.testing.assert_allclose(_numpy(out["logits"]), logits[:, t], atol=1e-5)
        weights = _numpy(out["attention"])  # (batch, S)
        assert weights.shape == (BATCH, padded.shape[1])
        if attention:
            np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
            assert np.all(weights[padded == 0] == 0)
        cache = {**cache, **{k: v for k, v in out.items() if k.startswith("state_")}}


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_save_load_round_trip(attention, tmp_path):
    model = _model(attention, "gru", True)
    source, target = _batch()
    inputs = {"source": source, "target_in": target}
    model.save(tmp_path / "seq2seq.keras")
    loaded = keras.saving.load_model(tmp_path / "seq2seq.keras")
    np.testing.assert_allclose(_numpy(loaded(inputs)), _numpy(model(inputs)), atol=1e-6)
    # The inference models rebuild from the loaded layers.
    encoder, step = build_seq2seq_inference(loaded)
    out = step({"token": keras.ops.convert_to_tensor(target[:, :1]), **encoder(source)})
    np.testing.assert_allclose(_numpy(out["logits"]), _numpy(model(inputs))[:, 0], atol=1e-5)


def test_rejects_unknown_options():
    with pytest.raises(ValueError, match="attention"):
        build_seq2seq(10, 10, attention="dot")
    with pytest.raises(ValueError, match="cell"):
        build_seq2seq(10, 10, cell="mut1")


def test_bahdanau_learns_to_reverse():
    """A few hundred steps on reversing 4 random words; greedy decoding then reproduces the
    reversed source (with EOS) for most sentences."""
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    length, vocab = 4, 10
    source = rng.integers(4, vocab, (1024, length)).astype("int32")
    reversed_ = source[:, ::-1]
    target_in = np.concatenate([np.full((1024, 1), 2), reversed_], 1).astype("int32")
    target_out = np.concatenate([reversed_, np.full((1024, 1), 3)], 1).astype("int32")
    model = build_seq2seq(vocab, vocab, embedding_dim=16, units=32, attention="bahdanau")
    model.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0))
    model.fit({"source": source, "target_in": target_in}, target_out, batch_size=32, epochs=8,
              verbose=0)
    test = rng.integers(4, vocab, (16, length)).astype("int32")
    encoder, step = build_seq2seq_inference(model)
    step_fn, cache = seq2seq_decoding(encoder, step, test)
    ids, _ = greedy_decode(step_fn, cache, batch_size=16, max_length=length + 2)
    expected = np.concatenate([test[:, ::-1], np.full((16, 1), 3), np.zeros((16, 1))], 1)
    exact = np.mean(np.all(_numpy(ids) == expected, axis=1))
    assert exact >= 0.8, (exact, _numpy(ids)[:4], expected[:4])
