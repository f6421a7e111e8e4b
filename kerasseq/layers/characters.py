"""Character-level word encoders for taggers: a CNN (Ma & Hovy 2016) or a BiLSTM (Lample et
al. 2016) run over the characters of every word."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="kerasseq")
class CharacterEncoder(keras.layers.Layer):
    """Encode each word of a sentence from its character embeddings.

    ``"cnn"`` (Ma & Hovy 2016, "End-to-end sequence labeling via bi-directional
    LSTM-CNNs-CRF"): a convolution of width ``window`` over the characters, ``tanh``, and
    max-over-characters pooling. ``"lstm"`` (Lample et al. 2016, "Neural architectures for
    named entity recognition"): the final states of a forward and a backward LSTM over the
    characters, concatenated. Padding characters (id 0) are zero vectors in the CNN and
    skipped by the LSTM when ``char_mask`` is given.

    Input ``(batch, words, chars, dim)`` (and optionally the ``(batch, words, chars)`` mask of
    real characters); output ``(batch, words, units)`` for the CNN, ``(batch, words,
    2 * units)`` for the LSTM. Every word is encoded independently (batch and words are folded
    into one axis), so any number of words works on every backend.

    Args:
        kind: ``"cnn"`` or ``"lstm"``.
        units: CNN filters, or LSTM units per direction.
        window: CNN window over characters.

    Example:
    >>> chars = keras.layers.Embedding(90, 30)(char_ids)   # (batch, words, 20, 30)
    >>> words = CharacterEncoder("cnn", 50)(chars)          # (batch, words, 50)
    """

    def __init__(self, kind: str = "cnn", units: int = 50, window: int = 3, **kwargs):
        super().__init__(**kwargs)
        if kind not in ("cnn", "lstm"):
            raise ValueError(f"Expected kind 'cnn' or 'lstm'. Received: kind={kind!r}")
        if units < 1 or window < 1:
            raise ValueError(f"Expected units >= 1 and window >= 1. Received: units={units}, window={window}")
        self.kind, self.units, self.window = kind, units, window
        if kind == "cnn":
            self.encoder = keras.layers.Conv1D(units, window, padding="same", activation="tanh",
                                               dtype=self.dtype_policy, name="conv")
        else:
            self.encoder = keras.layers.Bidirectional(
                keras.layers.LSTM(units, dtype=self.dtype_policy), dtype=self.dtype_policy,
                name="bilstm")

    def build(self, input_shape):
        chars, dim = input_shape[-2], input_shape[-1]
        self.encoder.build((None, chars, dim))

    def call(self, inputs, char_mask=None):
        shape = keras.ops.shape(inputs)  # (batch, words, chars, dim)
        flat = keras.ops.reshape(inputs, (-1, shape[2], shape[3]))  # (batch * words, chars, dim)
        if self.kind == "cnn":
            if char_mask is not None:
                flat = flat * keras.ops.cast(keras.ops.reshape(char_mask, (-1, shape[2], 1)), flat.dtype)
            encoded = keras.ops.max(self.encoder(flat), axis=1)  # (batch * words, units)
        else:
            mask = None if char_mask is None else keras.ops.reshape(char_mask, (-1, shape[2]))
            encoded = self.encoder(flat, mask=mask)  # (batch * words, 2 * units)
        return keras.ops.reshape(encoded, (shape[0], shape[1], -1))

    def compute_output_shape(self, input_shape):
        width = self.units * (2 if self.kind == "lstm" else 1)
        return (*input_shape[:2], width)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "units": self.units, "window": self.window}
