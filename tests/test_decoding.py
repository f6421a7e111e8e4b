"""Greedy and beam search on hand-made step functions with known probabilities, and on a
model: beam 1 = greedy, beam search finds what greedy misses, EOS and padding, length
penalty, batching with per-sentence caches, compiled loops."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasseq.decoding import beam_search, gnmt_length_penalty, greedy_decode
from kerasseq.models import build_seq2seq, build_seq2seq_inference, seq2seq_decoding

PAD, BOS, EOS, A, B, C = 0, 2, 3, 4, 5, 6
V = 7


def _table(rows):
    """log P(next | last) as a (V, V) array from {last: {next: p}}; the rest gets ~0."""
    table = np.full((V, V), 1e-9)
    for last, nexts in rows.items():
        for word, p in nexts.items():
            table[last, word] = p
    return np.log(table / table.sum(1, keepdims=True)).astype("float32")


# Greedy takes A (0.55) then C (0.4) then EOS (0.5): P = 0.11. B EOS has P = 0.405.
GARDEN = _table({BOS: {A: 0.55, B: 0.45}, A: {C: 0.4, B: 0.35, EOS: 0.25},
                 B: {EOS: 0.9, C: 0.1}, C: {EOS: 0.5, A: 0.3, B: 0.2}})
# Never ends: A -> A forever.
ENDLESS = _table({BOS: {A: 1.0}, A: {A: 0.9, B: 0.1}, B: {A: 1.0}})


def _markov(tables):
    """A step function over a first-order Markov chain; sentence b uses tables[cache row b]."""
    stacked = ops.convert_to_tensor(np.stack(tables))  # (n, V, V)

    def step_fn(tokens, index, cache):
        last = ops.take(tokens, index, axis=1)  # (N,)
        rows = ops.take(stacked, cache["table"], axis=0)  # (N, V, V)
        return ops.take_along_axis(rows, last[:, None, None], axis=1)[:, 0], cache

    return step_fn


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_length_penalty_formula():
    lengths = np.array([1, 2, 7, 20])
    np.testing.assert_allclose(_numpy(gnmt_length_penalty(lengths, 0.6)),
                               ((5 + lengths) / 6) ** 0.6, rtol=1e-6)
    np.testing.assert_allclose(_numpy(gnmt_length_penalty(lengths, 0.0)), 1.0)


def test_beam_search_finds_what_greedy_misses():
    step_fn, cache = _markov([GARDEN]), {"table": np.zeros((1,), "int32")}
    ids, score = greedy_decode(step_fn, cache, batch_size=1, max_length=5)
    assert _numpy(ids).tolist() == [[A, C, EOS, PAD, PAD]]
    np.testing.assert_allclose(_numpy(score), [np.log(0.55 * 0.4 * 0.5)], rtol=1e-4)
    ids, score = beam_search(step_fn, cache, batch_size=1, max_length=5, beam_width=2,
                             length_penalty=0.6)
    assert _numpy(ids).tolist() == [[B, EOS, PAD, PAD, PAD]]
    np.testing.assert_allclose(_numpy(score), [np.log(0.45 * 0.9) / (7 / 6) ** 0.6], rtol=1e-4)


def test_batched_sentences_eos_and_max_length():
    """Sentence 0 ends (and is padded after EOS) while sentence 1 never emits EOS: the
    search runs to max_length for it, and each sentence keeps its own cache row."""
    cache = {"table": np.array([1, 0], "int32")}
    step_fn = _markov([GARDEN, ENDLESS])
    for decode in (greedy_decode, beam_search):
        ids, scores = decode(step_fn, cache, batch_size=2, max_length=6)
        ids = _numpy(ids)
        assert ids[1].tolist() in ([A, C, EOS, PAD, PAD, PAD], [B, EOS, PAD, PAD, PAD, PAD])
        assert ids[0].tolist() == [A] * 6  # no EOS: cut at max_length
        assert np.all(np.isfinite(_numpy(scores)))


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_width_one_is_greedy(alpha):
    rng = np.random.default_rng(0)
    tables = [np.log(rng.dirichlet(np.ones(V) * 0.3, V)).astype("float32") for _ in range(3)]
    cache = {"table": np.array([0, 1, 2], "int32")}
    greedy_ids, greedy_scores = greedy_decode(_markov(tables), cache, batch_size=3, max_length=8)
    beam_ids, beam_scores = beam_search(_markov(tables), cache, batch_size=3, max_length=8,
                                        beam_width=1, length_penalty=alpha)
    np.testing.assert_array_equal(_numpy(beam_ids), _numpy(greedy_ids))
    if alpha == 0.0:
        np.testing.assert_allclose(_numpy(beam_scores), _numpy(greedy_scores), rtol=1e-5)


def test_beam_search_on_a_model_agrees_with_its_step_decoder():
    """On a (random) attention model, wider beams score at least as well (log P, α = 0) as
    greedy's hypothesis (beam 1 = greedy is checked on Markov chains above)."""
    keras.utils.set_random_seed(0)
    model = build_seq2seq(12, 12, embedding_dim=6, units=8, attention="bahdanau")
    source = np.random.default_rng(0).integers(4, 12, (3, 5)).astype("int32")
    step_fn, cache = seq2seq_decoding(*build_seq2seq_inference(model), source)
    _, greedy_scores = greedy_decode(step_fn, cache, batch_size=3, max_length=6)
    _, scores = beam_search(step_fn, cache, batch_size=3, max_length=6, beam_width=3,
                            length_penalty=0.0)
    assert np.all(_numpy(scores) >= _numpy(greedy_scores) - 1e-5)


def test_compiled_search_matches_eager():
    step_fn, cache = _markov([GARDEN, ENDLESS]), {"table": np.array([0, 1], "int32")}

    def search(table):
        return beam_search(step_fn, {"table": table}, batch_size=2, max_length=5, beam_width=2)

    if keras.backend.backend() == "jax":
        import jax
        compiled = jax.jit(search)
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        compiled = tf.function(search)
    else:
        pytest.skip("compiled decoding is checked on JAX and TensorFlow")
    eager_ids, eager_scores = search(cache["table"])
    ids, scores = compiled(ops.convert_to_tensor(cache["table"]))
    np.testing.assert_array_equal(_numpy(ids), _numpy(eager_ids))
    np.testing.assert_allclose(_numpy(scores), _numpy(eager_scores), rtol=1e-6)
