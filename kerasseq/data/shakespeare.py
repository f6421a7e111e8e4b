"""Tiny Shakespeare (Karpathy's char-rnn corpus): reader and tf.data pipelines."""

from __future__ import annotations

from kerasseq.data.files import dataset_file
from kerasseq.data.text import CharVocabulary, tbptt_batches

PATH = "tinyshakespeare/input.txt"


def load_tinyshakespeare(data_dir=None, download: bool = False, train_fraction: float = 0.9):
    """Read Tiny Shakespeare and split it by characters (first 90% train, last 10% val).

    Returns:
        ``(train_text, val_text, vocabulary)``; the vocabulary holds every character of the
        file (65), as char-rnn and nanoGPT build it.
    """
    text = dataset_file(PATH, data_dir, download).read_text(encoding="utf-8")
    split = int(len(text) * train_fraction)
    return text[:split], text[split:], CharVocabulary.from_text(text)


def char_lm_dataset(text: str, vocab: CharVocabulary, batch_size: int, seq_len: int):
    """A tf.data pipeline of ``(inputs, targets)`` batches laid out for truncated BPTT.

    Batches come in order (never shuffled): the stateful model relies on row ``i`` of each
    batch continuing row ``i`` of the previous one (see :func:`tbptt_batches`).
    """
    import tensorflow as tf

    x, y = tbptt_batches(vocab.encode(text), batch_size, seq_len)
    return tf.data.Dataset.from_tensor_slices((x, y)).prefetch(tf.data.AUTOTUNE)
