"""Sequence tagger: word + character encoders (+ word casing), a BiLSTM, and a CRF or
per-token softmax."""

from __future__ import annotations

import keras

from kerasseq.layers.characters import CharacterEncoder
from kerasseq.layers.masking import ZeroMasked


def build_sequence_tagger(
    word_vocab_size: int,
    char_vocab_size: int,
    num_tags: int,
    *,
    word_dim: int = 100,
    char_dim: int = 30,
    char_encoder: str = "cnn",
    char_units: int = 50,
    char_window: int = 3,
    max_word_len: int = 20,
    casing_dim: int = 0,
    num_casing_classes: int = 8,
    units: int = 200,
    depth: int = 1,
    dropout: float = 0.5,
    recurrent_dropout: float = 0.0,
    crf: bool = True,
    name: str = "sequence_tagger",
) -> keras.Model:
    """The BiLSTM-CRF tagger of Lample et al. 2016 (with Ma & Hovy 2016's character CNN).

    Each word is the concatenation of its embedding and a character-level encoding (a CNN
    with max-over-characters pooling, Ma & Hovy; or the final states of a character BiLSTM,
    Lample et al.) and optionally an embedding of its word casing class (numeric, all lower,
    all upper, initial upper ...: Collobert et al. 2011; Chiu & Nichols 2016; Reimers &
    Gurevych 2017), which the lower-cased word ids lose; a bidirectional LSTM reads the
    sentence; a linear layer gives per-tag scores, which a linear-chain CRF
    (:class:`kerasseq.layers.CRF`) turns into pairwise log-potentials (train with
    :class:`kerasseq.losses.CRFNegativeLogLikelihood`, decode with
    :func:`kerasseq.layers.viterbi_decode`); with ``crf=False`` the model returns independent
    per-token logits instead (the baseline that shows what the CRF adds).

    Args:
        word_vocab_size: word ids (0 is padding and masks the step).
        char_vocab_size: character ids (0 is padding).
        num_tags: number of tags.
        word_dim: word embedding width.
        char_dim: character embedding width.
        char_encoder: ``"cnn"`` or ``"lstm"``.
        char_units: CNN filters, or LSTM units per direction.
        char_window: CNN window over characters.
        max_word_len: characters per word in the ``chars`` input.
        casing_dim: width of the trainable casing-class embedding; 0 leaves the casing
            input out.
        num_casing_classes: casing class ids in the ``casing`` input (0 is padding; see
            :data:`kerasseq.data.conll.CASING_CLASSES`).
        units: sentence LSTM units per direction.
        depth: stacked sentence BiLSTM layers.
        dropout: dropout on the word representations, between stacked BiLSTMs and on
            the last BiLSTM's outputs.
        recurrent_dropout: variational dropout on the sentence LSTMs' recurrent state: one
            mask per sequence, the same at every step (Gal & Ghahramani 2016; Reimers &
            Gurevych 2017 found it the best dropout for BiLSTM-CRF taggers).
        crf: CRF output (pairwise potentials) or per-token logits.
        name: model name.

    Returns:
        A ``keras.Model`` from ``{"words": (batch, time), "chars": (batch, time,
        max_word_len)}`` int ids (plus ``"casing": (batch, time)`` with ``casing_dim``) to
        potentials ``(batch, time, num_tags, num_tags)`` (CRF) or logits ``(batch, time,
        num_tags)``.

    Example:
    >>> model = build_sequence_tagger(20000, 80, 17)
    >>> potentials = model({"words": words, "chars": chars})
    >>> tags = viterbi_decode(potentials, mask=words != 0)
    >>> with_casing = build_sequence_tagger(20000, 80, 17, casing_dim=10)
    >>> potentials = with_casing({"words": words, "chars": chars, "casing": casing})
    """
    if not 0 <= recurrent_dropout < 1:
        raise ValueError(f"Expected 0 <= recurrent_dropout < 1. Received: {recurrent_dropout}")
    if casing_dim < 0 or (casing_dim and num_casing_classes < 2):
        raise ValueError("Expected casing_dim >= 0 and, with casing, num_casing_classes >= 2. "
                         f"Received: casing_dim={casing_dim}, "
                         f"num_casing_classes={num_casing_classes}")
    words = keras.Input((None,), dtype="int32", name="words")
    chars = keras.Input((None, max_word_len), dtype="int32", name="chars")
    inputs = {"words": words, "chars": chars}

    w = keras.layers.Embedding(word_vocab_size, word_dim, mask_zero=True, name="word_embedding")(words)
    c = keras.layers.Embedding(char_vocab_size, char_dim, name="char_embedding")(chars)
    # (batch, time, max_word_len, char_dim) -> (batch, time, char_units or 2 * char_units)
    c = CharacterEncoder(char_encoder, char_units, char_window, name="char_encoder")(c)
    features = [w, c]
    if casing_dim:
        inputs["casing"] = keras.Input((None,), dtype="int32", name="casing")
        # (batch, time) -> (batch, time, casing_dim)
        features.append(keras.layers.Embedding(num_casing_classes, casing_dim,
                                               name="casing_embedding")(inputs["casing"]))
    x = keras.layers.Concatenate(name="word_and_chars")(features)
    x = keras.layers.Dropout(dropout, name="input_dropout")(x)
    # The word padding mask, given explicitly: the character encoder's output carries no
    # Keras mask, and without one the backward LSTM would read the padding first.
    mask = keras.ops.not_equal(words, 0)
    for i in range(depth):
        if i:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
        lstm = keras.layers.LSTM(units, return_sequences=True, recurrent_dropout=recurrent_dropout)
        x = keras.layers.Bidirectional(lstm, name=f"bilstm_{i}")(x, mask=mask)
    x = keras.layers.Dropout(dropout, name="output_dropout")(x)
    scores = keras.layers.Dense(num_tags, name="tag_scores")(x)  # (batch, time, num_tags)
    if crf:
        from kerasseq.layers.crf import CRF

        outputs = CRF(num_tags, name="crf")(scores)
    else:
        outputs = ZeroMasked(name="logits")(scores)
    return keras.Model(inputs, outputs, name=name)
