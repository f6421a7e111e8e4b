"""The PixelCNN likelihood: negative log-likelihood per image in nats (Bernoulli or 256-way)."""

from __future__ import annotations

import keras
from keras import ops

OUTPUTS = ("bernoulli", "softmax256")


def image_nll(targets, logits, output: str = "bernoulli"):
    """Negative log-likelihood of each image in nats, summed over its pixels and colours:
    ``(batch,)``. ``targets``: {0, 1} (bernoulli) or the levels 0..255 (softmax256)."""
    if output == "bernoulli":
        per_value = ops.binary_crossentropy(ops.cast(targets, logits.dtype), logits, from_logits=True)
    else:
        per_value = ops.sparse_categorical_crossentropy(ops.cast(targets, "int32"), logits,
                                                        from_logits=True)
    return ops.sum(ops.reshape(per_value, (ops.shape(per_value)[0], -1)), axis=-1)


@keras.saving.register_keras_serializable(package="kerasseq")
class ImageNLL(keras.losses.Loss):
    """The PixelCNN training loss: each image's negative log-likelihood in nats (summed over
    its pixels and colours, :func:`image_nll`), averaged over the batch, so the loss reads as
    the papers' "nats per image" (binarised MNIST).

    Args:
        output: ``"bernoulli"`` or ``"softmax256"``, as the model's.
        name: the loss's name.
    """

    def __init__(self, output="bernoulli", name="image_nll", **kwargs):
        if output not in OUTPUTS:
            raise ValueError(f"Expected output in {OUTPUTS}. Received: output={output!r}")
        super().__init__(name=name, **kwargs)
        self.output = output

    def call(self, y_true, y_pred):
        return image_nll(y_true, y_pred, self.output)

    def get_config(self):
        return {**super().get_config(), "output": self.output}
