"""Cross-entropy in bits: the unit character-level language models are reported in."""

import math

import keras

LN2 = math.log(2.0)


def nats_to_bits(nats: float) -> float:
    """Convert a cross-entropy in nats to bits (divide by ln 2)."""
    return nats / LN2


@keras.saving.register_keras_serializable(package="kerasseq")
class BitsPerToken(keras.metrics.Mean):
    """Mean sparse categorical cross-entropy from logits, in bits per token.

    bits = -(1/N) sum_t log2 p(y_t | x_<t) = nats / ln 2. For a character model this is
    bits/char (bpc), as reported by Graves 2013 and char-rnn.

    Args:
        name: metric name.
        dtype: metric dtype.

    Example:
    >>> model.compile(loss=..., metrics=[BitsPerToken(name="bits_per_char")])
    """

    def __init__(self, name="bits_per_token", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        nats = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        return super().update_state(nats / LN2, sample_weight=sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}
