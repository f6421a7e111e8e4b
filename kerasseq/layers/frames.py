"""Layers over sequences of frames ``(batch, time, height, width, channels)``: the patch-to-depth
reshaping of Shi et al.'s nowcasting network, its input-free forecaster, and the log scaling of
rain rates.
"""

from __future__ import annotations

import math

import keras
from keras import ops


def _check_block(block_size) -> int:
    if int(block_size) != block_size or block_size < 1:
        raise ValueError(f"Expected a positive integer block_size. Received: block_size={block_size!r}")
    return int(block_size)


@keras.saving.register_keras_serializable(package="kerasseq")
class SpaceToDepth(keras.layers.Layer):
    """Fold every ``block_size × block_size`` patch of each frame into the channels.

    ``(batch, time, H, W, C) -> (batch, time, H/b, W/b, b·b·C)``, patch-major and channel-minor
    (``tf.nn.space_to_depth``'s order, per frame). Shi et al. turn 64×64×1 Moving MNIST frames
    into 16×16×16 tensors this way (b = 4) so that the ConvLSTM's 5×5 kernels see 20×20 pixels.
    ``DepthToSpace`` with the same ``block_size`` undoes it exactly.

    Args:
        block_size: the patch side ``b``; ``H`` and ``W`` must be multiples of it.
        **kwargs: base layer arguments.

    Example:
    >>> SpaceToDepth(4)(np.zeros((2, 10, 64, 64, 1))).shape
    (2, 10, 16, 16, 16)

    References:
        Shi et al. 2015, "Convolutional LSTM network: a machine learning approach for
        precipitation nowcasting", NIPS (section 4.1).
    """

    def __init__(self, block_size: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.block_size = _check_block(block_size)

    def call(self, inputs):
        b = self.block_size
        shape = ops.shape(inputs)
        batch, time, height, width, channels = (shape[i] for i in range(5))
        x = ops.reshape(inputs, (batch, time, height // b, b, width // b, b, channels))
        x = ops.transpose(x, (0, 1, 2, 4, 3, 5, 6))  # (batch, time, H/b, W/b, b, b, C)
        return ops.reshape(x, (batch, time, height // b, width // b, b * b * channels))

    def build(self, input_shape):
        if len(input_shape) != 5:
            raise ValueError("Expected inputs of shape (batch, time, height, width, channels). "
                             f"Received: input_shape={input_shape}")
        for side in input_shape[2:4]:
            if side is not None and side % self.block_size:
                raise ValueError(f"Expected height and width divisible by block_size="
                                 f"{self.block_size}. Received: input_shape={input_shape}")

    def compute_output_shape(self, input_shape):
        b = self.block_size
        batch, time, height, width, channels = input_shape
        return (batch, time, None if height is None else height // b,
                None if width is None else width // b, b * b * channels)

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}


@keras.saving.register_keras_serializable(package="kerasseq")
class DepthToSpace(keras.layers.Layer):
    """Unfold channels into ``block_size × block_size`` patches: the inverse of ``SpaceToDepth``.

    ``(batch, time, h, w, b·b·C) -> (batch, time, h·b, w·b, C)``.

    Args:
        block_size: the patch side ``b``; the channels must be a multiple of ``b·b``.
        **kwargs: base layer arguments.

    Example:
    >>> DepthToSpace(4)(np.zeros((2, 10, 16, 16, 16))).shape
    (2, 10, 64, 64, 1)
    """

    def __init__(self, block_size: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.block_size = _check_block(block_size)

    def build(self, input_shape):
        if len(input_shape) != 5 or input_shape[-1] % (self.block_size ** 2):
            raise ValueError(f"Expected inputs (batch, time, h, w, channels) with channels a "
                             f"multiple of block_size²={self.block_size ** 2}. Received: "
                             f"input_shape={input_shape}")

    def call(self, inputs):
        b = self.block_size
        shape = ops.shape(inputs)
        batch, time, height, width = (shape[i] for i in range(4))
        channels = inputs.shape[-1] // (b * b)
        x = ops.reshape(inputs, (batch, time, height, width, b, b, channels))
        x = ops.transpose(x, (0, 1, 2, 4, 3, 5, 6))  # (batch, time, h, b, w, b, C)
        return ops.reshape(x, (batch, time, height * b, width * b, channels))

    def compute_output_shape(self, input_shape):
        b = self.block_size
        batch, time, height, width, channels = input_shape
        return (batch, time, None if height is None else height * b,
                None if width is None else width * b, channels // (b * b))

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}


@keras.saving.register_keras_serializable(package="kerasseq")
class EmptyFrames(keras.layers.Layer):
    """A zero sequence of ``frames`` steps shaped like the frames of the input.

    ``(batch, time, h, w, c) -> zeros (batch, frames, h, w, channels)``: the input of the
    forecasting network of Shi et al., which receives no observations and runs from the states
    it copies from the encoder.

    Args:
        frames: the number of steps ``K`` to forecast.
        channels: channels of the zero frames.
        **kwargs: base layer arguments.

    Example:
    >>> EmptyFrames(10)(np.ones((2, 5, 16, 16, 64))).shape
    (2, 10, 16, 16, 1)
    """

    def __init__(self, frames: int, channels: int = 1, **kwargs):
        super().__init__(**kwargs)
        if int(frames) != frames or frames < 1 or int(channels) != channels or channels < 1:
            raise ValueError("Expected positive integers frames and channels. Received: "
                             f"frames={frames!r}, channels={channels!r}")
        self.frames, self.channels = int(frames), int(channels)

    def call(self, inputs):
        shape = ops.shape(inputs)
        return ops.zeros((shape[0], self.frames, shape[2], shape[3], self.channels), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.frames, input_shape[2], input_shape[3], self.channels)

    def get_config(self):
        return {**super().get_config(), "frames": self.frames, "channels": self.channels}


@keras.saving.register_keras_serializable(package="kerasseq")
class LogScaling(keras.layers.Layer):
    """``y = log(1 + x) / log(1 + max_value)`` (or its inverse): rain rates in mm/h to a
    roughly uniform [0, 1] scale, so light rain is not drowned by the rare downpours.

    Args:
        max_value: the value mapped to 1 (default 100 mm/h).
        inverse: apply ``x = (1 + max_value)^y − 1`` instead (negative outputs clipped to 0).
        **kwargs: base layer arguments.

    Example:
    >>> LogScaling(100.0)(np.array([0.0, 100.0]))  # -> [0, 1]
    """

    def __init__(self, max_value: float = 100.0, inverse: bool = False, **kwargs):
        super().__init__(**kwargs)
        if not max_value > 0:
            raise ValueError(f"Expected max_value > 0. Received: max_value={max_value!r}")
        self.max_value, self.inverse = float(max_value), bool(inverse)

    def call(self, inputs):
        scale = math.log1p(self.max_value)
        if self.inverse:
            return ops.maximum(ops.expm1(inputs * scale), 0.0)
        return ops.log1p(ops.maximum(inputs, 0.0)) / scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "inverse": self.inverse}
