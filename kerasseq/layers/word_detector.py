"""Word detection from captions: a supervised signal for a captioning encoder trained from
scratch (the visual word detectors of Fang et al., "From Captions to Visual Concepts and
Back", CVPR 2015).

A captioning decoder gives its encoder a weak, indirect gradient: a from-scratch CNN trained
only through it hardly moves from its initialisation. Predicting, from the image alone, which
words its reference captions contain (multi-label: "dog", "snow", "red", "ball" ...) gives the
encoder a direct one, from the captions the dataset already has.
"""

from __future__ import annotations

import keras
from keras import ops

FIRST_WORD_ID = 4  # ids 0-3: padding, unknown, <start>, <end> (kerasseq.data.flickr8k)


@keras.saving.register_keras_serializable(package="kerasseq")
class WordDetectionLoss(keras.layers.Layer):
    """Adds λ · Σ_w BCE(p_w, y_w) (mean over images) to the model's losses and passes the
    annotation vectors through unchanged.

    p_w = σ(W · mean_l a_l + b)_w is the predicted probability that word w occurs in the
    image's captions, y_w = 1 when it occurs in any of them (the word ids ≥ 4 of
    ``captions``; padding, unknown and the markers are not words to detect). The loss is added
    in training only; at inference the layer is the identity.

    Args:
        vocab_size: caption vocabulary size (ids 0..vocab_size − 1).
        weight: λ.

    Call arguments:
        inputs: ``[annotations (batch, L, D), captions (batch, C, T) int]`` — an image's
            annotation vectors and the word ids of its C captions.

    Example:
    >>> detect = WordDetectionLoss(2543, weight=0.05)
    >>> annotations = detect([annotations, captions_in])  # unchanged; the loss is added
    """

    def __init__(self, vocab_size: int, weight: float = 0.05, **kwargs):
        super().__init__(**kwargs)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size <= FIRST_WORD_ID:
            raise ValueError(f"Expected `vocab_size` to be an integer > {FIRST_WORD_ID}. "
                             f"Received: vocab_size={vocab_size!r}")
        if weight < 0:
            raise ValueError(f"Expected `weight` >= 0. Received: weight={weight!r}")
        self.vocab_size, self.weight = vocab_size, float(weight)
        self.head = keras.layers.Dense(vocab_size - FIRST_WORD_ID, name="words")

    def build(self, input_shape):
        self.head.build((None, input_shape[0][-1]))

    def word_logits(self, annotations):
        """Logits ``(batch, vocab_size − 4)`` of the words ``4 .. vocab_size − 1``."""
        return self.head(ops.mean(annotations, axis=1))

    def word_targets(self, captions):
        """Multi-hot ``(batch, vocab_size − 4)``: the words present in any of the captions."""
        ids = ops.reshape(ops.cast(captions, "int32"), (ops.shape(captions)[0], -1)) - FIRST_WORD_ID
        # Non-words become −1, whose one-hot row is all zeros.
        ids = ops.where(ids >= 0, ids, -1)
        return ops.max(ops.one_hot(ids, self.vocab_size - FIRST_WORD_ID), axis=1)

    def call(self, inputs, training=None):
        annotations, captions = inputs
        if training and self.weight:
            logits = ops.cast(self.word_logits(annotations), "float32")
            bce = ops.sum(ops.binary_crossentropy(self.word_targets(captions), logits,
                                                  from_logits=True), axis=-1)
            self.add_loss(self.weight * ops.mean(bce))
        return annotations

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "weight": self.weight}
