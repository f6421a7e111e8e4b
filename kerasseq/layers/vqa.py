"""The image as a word of the question: the input layer of VIS+LSTM and 2-VIS+BLSTM (Ren,
Kiros & Zemel 2015). ``keras.ops`` only: both backends."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasseq")
class ImageAsWords(keras.layers.Layer):
    """An image feature vector projected into the word-embedding space and put into the
    question as a word: first (VIS+LSTM), or first and after the last word (2-VIS+BLSTM), as
    in Ren, Kiros & Zemel 2015, §4.1 and §4.3::

        x_0 = W_first v,    x_1..x_n = E q_1 .. E q_n,    x_{n+1} = W_last v  (both_ends)

    where v is the image's feature vector and n the question's length (its non-zero ids;
    questions are right-padded with id 0). W_first and W_last are two linear maps (the
    paper's "two different linear transformations" of the 2-VIS model). Steps after the
    question are zero (and masked).

    Args:
        embedding_dim: the word-embedding size E (the projected image's size).
        both_ends: also put the image after the last word (2-VIS).
        **kwargs: base layer arguments.

    Call: ``[image (batch, D), embedded (batch, T, E), tokens (batch, T)]`` → ``(batch, T + 1,
    E)`` (``(batch, T + 2, E)`` with ``both_ends``), with a Keras mask that is true on the
    image words and the question's words, so a following RNN skips the padding.

    Example:
    >>> words = keras.layers.Embedding(1000, 64)(question)
    >>> sequence = ImageAsWords(64, both_ends=True)([image_vector, words, question])
    >>> state = keras.layers.Bidirectional(keras.layers.LSTM(128))(sequence)

    References:
        Ren, Kiros & Zemel 2015, "Exploring models and data for image question answering",
        NIPS 2015.
    """

    def __init__(self, embedding_dim: int, both_ends: bool = False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or embedding_dim < 1:
            raise ValueError(f"Expected `embedding_dim` to be a positive integer. Received: "
                             f"embedding_dim={embedding_dim!r}")
        self.embedding_dim, self.both_ends = embedding_dim, both_ends
        self.supports_masking = True

    def build(self, input_shape):
        image_shape, embedded_shape, _ = input_shape
        if embedded_shape[-1] != self.embedding_dim:
            raise ValueError(f"Expected word embeddings of size {self.embedding_dim}. Received: "
                             f"input_shape={input_shape}")
        self.first = keras.layers.Dense(self.embedding_dim, dtype=self.dtype_policy, name="first")
        self.first.build(image_shape)
        if self.both_ends:
            self.last = keras.layers.Dense(self.embedding_dim, dtype=self.dtype_policy, name="last")
            self.last.build(image_shape)

    def call(self, inputs, mask=None):
        image, embedded, tokens = inputs
        # Zero the padding's embeddings: the last image word is added onto step n + 1.
        embedded = embedded * ops.cast(ops.not_equal(tokens, 0), embedded.dtype)[:, :, None]
        first = ops.cast(self.first(image), embedded.dtype)[:, None, :]  # (batch, 1, E)
        sequence = ops.concatenate([first, embedded], axis=1)  # (batch, T + 1, E)
        if self.both_ends:
            sequence = ops.pad(sequence, [(0, 0), (0, 1), (0, 0)])  # (batch, T + 2, E)
            # One-hot on step n + 1, right after the last word.
            at = ops.one_hot(self._lengths(tokens) + 1, ops.shape(sequence)[1], dtype=embedded.dtype)
            last = ops.cast(self.last(image), embedded.dtype)[:, None, :]
            sequence = sequence + at[:, :, None] * last
        return sequence

    @staticmethod
    def _lengths(tokens):
        return ops.sum(ops.cast(ops.not_equal(tokens, 0), "int32"), axis=1)  # (batch,)

    def compute_mask(self, inputs, mask=None):
        tokens = inputs[2]
        steps = ops.shape(tokens)[1] + (2 if self.both_ends else 1)
        last = self._lengths(tokens) + (1 if self.both_ends else 0)  # index of the last valid step
        return ops.less_equal(ops.arange(steps)[None, :], last[:, None])  # (batch, steps)

    def compute_output_shape(self, input_shape):
        _, embedded_shape, _ = input_shape
        steps = embedded_shape[1]
        if steps is not None:
            steps += 2 if self.both_ends else 1
        return (embedded_shape[0], steps, self.embedding_dim)

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim,
                "both_ends": self.both_ends}
