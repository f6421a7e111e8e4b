"""Greedy and beam-search decoding for any autoregressive model behind one step function.

The step interface::

    step_fn(tokens, index, cache) -> (log_probs, cache)

``tokens`` ``(N, max_length + 1)`` int32 is a fixed-size buffer: BOS at position 0, the words
chosen so far at 1..index, padding after; ``step_fn`` returns the log-probabilities of the word
at position ``index + 1`` ``(N, vocab)`` and its updated ``cache`` (a dict of tensors, each
with N rows: recurrent states, encoder outputs, a source mask). A recurrent decoder reads only
``tokens[:, index]`` and its states (:func:`kerasseq.models.seq2seq_decoding`); a Transformer
reads it too, attending to its key/value cache
(:func:`kerasseq.models.transformer_decoding`).

Both searches are ``keras.ops.while_loop`` loops over fixed shapes (they stop when every
sentence has ended or at ``max_length``), so they run eagerly on any backend and compile
under ``jax.jit`` (and ``tf.function``) when ``step_fn`` does.

Why not keras-hub's ``GreedySampler``/``BeamSampler``: they decode a single growing prompt
for a decoder-only model and, for beam search, keep extending beams past the end token (an
ended hypothesis is not frozen with its score), have no length penalty, and do not return
scores; translation needs all three.
"""

from __future__ import annotations

from keras import ops

PAD, BOS, EOS = 0, 2, 3  # kerasseq.data.multi30k's ids
_NEG = -1e9  # a finite -inf: a log-probability no candidate can win with, never NaN


def compiled(fn):
    """``fn`` compiled for the backend: ``jax.jit``, ``tf.function``, or ``fn`` itself (torch,
    numpy). The searches below, with a model's step inside, compile into one program."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    return fn


def gnmt_length_penalty(length, alpha: float = 0.6):
    """GNMT's length penalty lp(Y) = ((5 + |Y|) / 6)^α (Wu et al. 2016, eq. 14); a hypothesis
    is ranked by log P(Y) / lp(Y). α = 0 gives 1 (raw log-probabilities)."""
    return ops.power((5.0 + ops.cast(length, "float32")) / 6.0, alpha)


def _buffer(rows, max_length, bos_id):
    tokens = ops.zeros((rows, max_length + 1), "int32")
    return ops.concatenate([ops.full((rows, 1), bos_id, "int32"), tokens[:, 1:]], axis=1)


def _write(tokens, index, values):
    """``tokens[:, index] = values`` with a tensor ``index`` (fixed shapes, any backend)."""
    column = ops.arange(ops.shape(tokens)[1]) == index  # (L,)
    return ops.where(column[None, :], values[:, None], tokens)


def greedy_decode(step_fn, cache, *, batch_size: int, max_length: int, bos_id: int = BOS,
                  eos_id: int = EOS, pad_id: int = PAD):
    """Pick the most likely word at every step until EOS or ``max_length`` words.

    Args:
        step_fn: ``step_fn(tokens, index, cache) -> (log_probs, cache)`` (module docstring).
        cache: its initial cache (``batch_size`` rows per tensor).
        batch_size: number of sentences B.
        max_length: most words generated per sentence (EOS included).
        bos_id / eos_id / pad_id: the start, end and padding ids.

    Returns:
        ``(ids, scores)``: int32 ``(B, max_length)``, each sentence's words up to and including
        its EOS, then ``pad_id``; and float32 ``(B,)`` log-probabilities of those words.
    """
    tokens = _buffer(batch_size, max_length, bos_id)
    scores = ops.zeros((batch_size,), "float32")
    finished = ops.zeros((batch_size,), "bool")

    def cond(index, tokens, scores, finished, cache):
        return ops.logical_and(index < max_length, ops.logical_not(ops.all(finished)))

    def body(index, tokens, scores, finished, cache):
        log_probs, cache = step_fn(tokens, index, cache)
        word = ops.cast(ops.argmax(log_probs, axis=-1), "int32")  # (B,)
        best = ops.max(log_probs, axis=-1)
        word = ops.where(finished, pad_id, word)
        scores = scores + ops.where(finished, 0.0, best)
        tokens = _write(tokens, index + 1, word)
        return index + 1, tokens, scores, ops.logical_or(finished, word == eos_id), cache

    _, tokens, scores, _, _ = ops.while_loop(
        cond, body, (ops.convert_to_tensor(0, "int32"), tokens, scores, finished, cache))
    return tokens[:, 1:], scores


def tile_beams(tree, beam_width: int):
    """Repeat every row of every tensor in ``tree`` ``beam_width`` times (row b becomes rows
    b·K .. b·K + K - 1), the layout :func:`beam_search` hands to ``step_fn``."""
    from keras import tree as keras_tree

    return keras_tree.map_structure(lambda x: ops.repeat(x, beam_width, axis=0), tree)


def beam_search(step_fn, cache, *, batch_size: int, max_length: int, beam_width: int = 4,
                length_penalty: float = 0.6, bos_id: int = BOS, eos_id: int = EOS,
                pad_id: int = PAD):
    """Beam search with GNMT's length penalty (Wu et al. 2016, §7).

    Keeps the ``beam_width`` best hypotheses per sentence. At each step every live hypothesis
    is extended by every word; a hypothesis that has produced EOS is frozen (it only extends
    with ``pad_id`` at no cost, keeping its score and length) and competes with the live ones.
    Hypotheses are ranked by log P(Y) / lp(|Y|) with lp of :func:`gnmt_length_penalty` (|Y| counts
    EOS); the search stops when all kept hypotheses have ended or at ``max_length``.
    With ``beam_width=1`` it is :func:`greedy_decode`.

    Args:
        step_fn: ``step_fn(tokens, index, cache) -> (log_probs, cache)``; it sees B·K rows.
        cache: its initial cache with B rows per tensor (repeated per beam here).
        batch_size: number of sentences B.
        max_length: most words per sentence (EOS included).
        beam_width: hypotheses kept per sentence K.
        length_penalty: α of the length penalty (GNMT: 0.6; 0 = raw log-probabilities).
        bos_id / eos_id / pad_id: the start, end and padding ids.

    Returns:
        ``(ids, scores)``: the best hypothesis per sentence, int32 ``(B, max_length)`` (words
        up to and including EOS, then padding), and its score log P / lp, float32 ``(B,)``.
    """
    if beam_width < 1:
        raise ValueError(f"Expected beam_width >= 1. Received: beam_width={beam_width}")
    rows = batch_size * beam_width
    tokens = _buffer(rows, max_length, bos_id)
    # Only the first copy of each sentence is live at the start (the others are identical).
    log_p = ops.tile(ops.convert_to_tensor([[0.0] + [_NEG] * (beam_width - 1)], "float32"),
                     (batch_size, 1))  # (B, K)
    lengths = ops.zeros((batch_size, beam_width), "int32")
    finished = ops.zeros((batch_size, beam_width), "bool")
    offsets = ops.arange(batch_size, dtype="int32")[:, None] * beam_width  # (B, 1)

    def cond(index, tokens, log_p, lengths, finished, cache):
        return ops.logical_and(index < max_length, ops.logical_not(ops.all(finished)))

    def body(index, tokens, log_p, lengths, finished, cache):
        step_log_probs, cache = step_fn(tokens, index, cache)  # (B·K, V)
        vocab = ops.shape(step_log_probs)[-1]
        step_log_probs = ops.reshape(ops.cast(step_log_probs, "float32"), (batch_size, beam_width, -1))
        # An ended hypothesis extends only with padding, at no cost.
        frozen = ops.where(ops.arange(vocab) == pad_id, 0.0, _NEG)  # (V,)
        step_log_probs = ops.where(finished[..., None], frozen, step_log_probs)
        candidates = log_p[..., None] + step_log_probs  # (B, K, V)
        new_lengths = lengths + ops.where(finished, 0, 1)  # (B, K)
        ranked = candidates / gnmt_length_penalty(new_lengths, length_penalty)[..., None]
        _, best = ops.top_k(ops.reshape(ranked, (batch_size, -1)), beam_width)  # (B, K)
        beam = best // vocab  # (B, K) the hypothesis extended
        word = ops.cast(best % vocab, "int32")  # (B, K) by this word
        log_p = ops.take_along_axis(ops.reshape(candidates, (batch_size, -1)), best, axis=1)
        lengths = ops.take_along_axis(new_lengths, beam, axis=1)
        was_finished = ops.take_along_axis(finished, beam, axis=1)
        finished = ops.logical_or(was_finished, word == eos_id)

        rows_taken = ops.reshape(ops.cast(beam, "int32") + offsets, (-1,))  # (B·K,)
        tokens = ops.take(tokens, rows_taken, axis=0)
        tokens = _write(tokens, index + 1, ops.reshape(word, (-1,)))
        cache = {k: ops.take(v, rows_taken, axis=0) for k, v in cache.items()}
        return index + 1, tokens, log_p, lengths, finished, cache

    _, tokens, log_p, lengths, _, _ = ops.while_loop(
        cond, body, (ops.convert_to_tensor(0, "int32"), tokens, log_p, lengths, finished,
                     tile_beams(dict(cache), beam_width)))
    scores = log_p / gnmt_length_penalty(ops.maximum(lengths, 1), length_penalty)  # (B, K)
    best = ops.argmax(scores, axis=1)[:, None]  # (B, 1)
    tokens = ops.reshape(tokens, (batch_size, beam_width, -1))
    ids = ops.take_along_axis(tokens, ops.cast(best, "int32")[..., None], axis=1)[:, 0, 1:]
    return ids, ops.take_along_axis(scores, best, axis=1)[:, 0]
