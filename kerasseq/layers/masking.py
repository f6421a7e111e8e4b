"""Mask helpers for layers that ignore Keras masks."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="kerasseq")
class ZeroMasked(keras.layers.Layer):
    """Zero the masked steps of ``(batch, time, features)`` and drop the mask.

    For layers that ignore masks, such as convolutions: Kim's sentence CNN pads with zero
    vectors, which an ``Embedding(mask_zero=True)`` followed by this layer reproduces.

    Example:
    >>> x = keras.layers.Embedding(100, 8, mask_zero=True)(tokens)
    >>> x = ZeroMasked()(x)  # padded steps are exactly 0, no mask downstream
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return inputs
        return inputs * keras.ops.cast(mask, inputs.dtype)[..., None]

    def compute_mask(self, inputs, mask=None):
        return None
