"""Character-level language model (Karpathy's min-char-rnn / char-rnn, in Keras)."""

from __future__ import annotations

import keras
import numpy as np

from kerasseq.models.recurrent import build_stacked_rnn


def build_char_language_model(
    vocab_size: int,
    *,
    cell: str = "lstm",
    units: int = 512,
    depth: int = 2,
    embedding_dim: int = 64,
    dropout: float = 0.0,
    stateful: bool = False,
    batch_size: int | None = None,
    return_state: bool = False,
) -> keras.Model:
    """Embedding -> stacked RNN -> logits over the next character.

    Implements the character-level language model of Karpathy's char-rnn ("The Unreasonable
    Effectiveness of Recurrent Neural Networks", 2015), which models
    p(x_{t+1} | x_1..x_t) = softmax(W h_t + b) with h_t from a deep RNN over characters.

    Args:
        vocab_size: number of distinct characters.
        cell: a cell name of :data:`kerasseq.models.recurrent.CELL_NAMES`.
        units: recurrent width.
        depth: number of recurrent layers.
        embedding_dim: character embedding width.
        dropout: dropout after the embedding and between recurrent layers (training only).
        stateful: carry states across batches (truncated BPTT); needs ``batch_size``.
        batch_size: fixed batch size for the stateful model.
        return_state: the generation form ``[ids, *states] -> [logits, *states]``.

    Returns:
        A ``keras.Model`` from int ids ``(batch, time)`` to logits ``(batch, time, vocab)``.

    Example:
    >>> model = build_char_language_model(65, units=64, depth=1)
    >>> model(np.zeros((2, 8), "int32")).shape
    (2, 8, 65)
    """
    return build_stacked_rnn(
        cell=cell,
        units=units,
        depth=depth,
        vocab_size=vocab_size,
        embedding_dim=embedding_dim,
        output_units=vocab_size,
        dropout=dropout,
        stateful=stateful,
        batch_size=batch_size,
        return_state=return_state,
        name="char_lm",
    )


def sample_next(logits, temperature: float = 1.0, top_k: int = 0, seed=None):
    """Draw one id per row from ``logits`` ``(batch, vocab)`` at ``temperature``, keeping only
    the ``top_k`` most likely ids when ``top_k > 0``. Returns int32 ``(batch,)``."""
    logits = keras.ops.convert_to_tensor(logits, "float32") / temperature
    if top_k:
        kth = keras.ops.top_k(logits, top_k)[0][:, -1:]  # (batch, 1)
        logits = keras.ops.where(logits < kth, -1e9, logits)
    return keras.ops.cast(keras.random.categorical(logits, 1, seed=seed)[:, 0], "int32")


def generate(step_model: keras.Model, prompt_ids, num_chars: int, *, temperature: float = 1.0,
             top_k: int = 0, seed: int | None = None):
    """Generate ``num_chars`` ids after ``prompt_ids`` with a ``return_state=True`` model.

    The prompt is read in one call; then one character at a time, feeding back the sample and
    the recurrent states. Returns the generated ids (without the prompt) as a NumPy array.
    """
    if temperature <= 0:
        raise ValueError(f"Expected temperature > 0. Received: temperature={temperature}")
    if len(prompt_ids) == 0:
        raise ValueError("Expected a prompt of at least one character.")
    generator = keras.random.SeedGenerator(seed) if seed is not None else None
    states = [np.zeros((1, s.shape[-1]), "float32") for s in step_model.inputs[1:]]
    logits, *states = step_model([np.asarray(prompt_ids, "int32")[None], *states], training=False)
    out = []
    for _ in range(num_chars):
        next_id = sample_next(logits[:, -1], temperature, top_k, seed=generator)
        out.append(int(keras.ops.convert_to_numpy(next_id)[0]))
        logits, *states = step_model([keras.ops.reshape(next_id, (1, 1)), *states], training=False)
    return np.asarray(out, np.int32)
