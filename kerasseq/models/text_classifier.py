"""Sentence classifiers: Kim's convolutional network and a recurrent many-to-one classifier."""

from __future__ import annotations

import keras

from kerasseq.layers.masking import ZeroMasked
from kerasseq.models.recurrent import build_stacked_rnn


def build_text_cnn(
    vocab_size: int,
    num_classes: int,
    *,
    seq_len: int | None = None,
    embedding_dim: int = 300,
    filter_sizes=(3, 4, 5),
    filters: int = 100,
    dropout: float = 0.5,
    max_norm: float = 3.0,
    name: str = "text_cnn",
) -> keras.Model:
    """Kim's CNN for sentence classification (CNN-rand: embeddings learned from scratch).

    Kim 2014, "Convolutional Neural Networks for Sentence Classification": word embeddings
    x_1..x_n; for each window size h, ``filters`` feature maps c_i = relu(w · x_{i:i+h-1} + b);
    max-over-time pooling ĉ = max_i c_i; the pooled features of all window sizes concatenated,
    dropout, and a softmax layer whose weight vectors are rescaled to l2 norm ``max_norm``
    whenever they exceed it. Padding (id 0) embeds to zeros, as Kim's zero padding.

    Args:
        vocab_size: number of token ids (id 0 is padding).
        num_classes: number of classes; the model returns logits.
        seq_len: fixed input length, or ``None``; inputs shorter than the widest window
            are padded inside the model.
        embedding_dim: word vector width (Kim: 300).
        filter_sizes: window sizes h (Kim: 3, 4, 5).
        filters: feature maps per window size (Kim: 100).
        dropout: dropout rate on the penultimate layer (Kim: 0.5).
        max_norm: l2 max-norm of each output weight vector (Kim: 3); 0 disables it.
        name: model name.

    Returns:
        A ``keras.Model`` from int ids ``(batch, time)`` to logits ``(batch, num_classes)``.

    Example:
    >>> model = build_text_cnn(20000, 2)
    >>> model(np.zeros((8, 56), "int32")).shape
    (8, 2)
    """
    filter_sizes = tuple(int(h) for h in filter_sizes)
    if not filter_sizes or min(filter_sizes) < 1:
        raise ValueError(f"Expected window sizes >= 1. Received: filter_sizes={filter_sizes}")
    tokens = keras.Input((seq_len,), dtype="int32", name="tokens")
    # The embedding of padding is forced to zero, as Kim's zero-padding vectors.
    x = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding")(tokens)
    x = ZeroMasked(name="zero_padding")(x)  # (batch, time, embedding_dim)
    pad = max(filter_sizes) - 1
    x = keras.layers.ZeroPadding1D((pad, pad), name="edge_padding")(x)
    pooled = []
    for h in filter_sizes:
        c = keras.layers.Conv1D(filters, h, activation="relu", name=f"conv_{h}")(x)
        pooled.append(keras.layers.GlobalMaxPooling1D(name=f"max_over_time_{h}")(c))
    x = keras.layers.Concatenate(name="features")(pooled) if len(pooled) > 1 else pooled[0]
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    constraint = keras.constraints.MaxNorm(max_norm, axis=0) if max_norm else None
    logits = keras.layers.Dense(num_classes, kernel_constraint=constraint, name="head")(x)
    return keras.Model(tokens, logits, name=name)


def build_recurrent_classifier(
    vocab_size: int,
    num_classes: int,
    *,
    cell: str = "lstm",
    units: int = 128,
    depth: int = 1,
    embedding_dim: int = 300,
    pooling: str = "mean",
    bidirectional: bool = True,
    dropout: float = 0.5,
    recurrent_dropout: float = 0.0,
    seq_len: int | None = None,
    name: str = "recurrent_classifier",
) -> keras.Model:
    """A recurrent many-to-one sentence classifier (BiLSTM/BiGRU over word embeddings).

    The many-to-one RNN of the lectures: embeddings -> (bidirectional) recurrent layers ->
    one sentence vector (the last valid state, or the mean of the states over the valid
    words) -> logits. Padding (id 0) is masked throughout.

    Args:
        vocab_size: number of token ids (id 0 is padding).
        num_classes: number of classes; the model returns logits.
        cell: a cell name of :data:`kerasseq.models.recurrent.CELL_NAMES`.
        units: recurrent width per direction.
        depth: stacked recurrent layers.
        embedding_dim: word vector width.
        pooling: ``"last"`` or ``"mean"``.
        bidirectional: read the sentence in both directions.
        dropout: dropout after the embedding and the recurrent layers.
        recurrent_dropout: dropout on the recurrent connections.
        seq_len: fixed input length, or ``None``.
        name: model name.

    Example:
    >>> model = build_recurrent_classifier(20000, 2, cell="gru", pooling="last")
    >>> model(np.zeros((8, 56), "int32")).shape
    (8, 2)
    """
    if pooling not in ("last", "mean"):
        raise ValueError(f"Expected pooling 'last' or 'mean'. Received: pooling={pooling!r}")
    return build_stacked_rnn(
        cell=cell, units=units, depth=depth, vocab_size=vocab_size, embedding_dim=embedding_dim,
        mask_zero=True, dropout=dropout, recurrent_dropout=recurrent_dropout,
        bidirectional=bidirectional, output_mode=pooling, output_units=num_classes,
        seq_len=seq_len, name=name)
