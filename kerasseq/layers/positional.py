"""Position information for attention models: the fixed sinusoidal encoding of the Transformer
and a learned position embedding. Both *add* the positions to their input.

keras-hub's ``SinePositionEncoding`` computes the same interleaved formula and its
``PositionEmbedding`` the same table, but they *return* the encoding rather than add it, and
importing keras_hub imports TensorFlow whenever it is installed (seconds, also under JAX),
so kerasseq has its own (small) layers; the tests compare the formula with keras-hub's.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def _frequencies(depth: int, max_wavelength: float):
    """1 / max_wavelength^{2i/d} of every feature (the pair index i = feature // 2), and
    whether the feature is a cosine (odd features), as float32 NumPy ``(depth,)``."""
    pair = np.arange(depth) // 2
    frequencies = np.power(float(max_wavelength), -2.0 * pair / depth).astype("float32")
    return frequencies, (np.arange(depth) % 2 == 1)


def sinusoidal_encoding(length, depth: int, start_index=0, max_wavelength: float = 10000.0):
    """The sinusoidal position encoding of positions ``start_index .. start_index+length-1``.

        PE(pos, 2i) = sin(pos / max_wavelength^{2i/d}),  PE(pos, 2i+1) = cos(pos / max_wavelength^{2i/d})

    Args:
        length: number of positions (int or scalar tensor).
        depth: d, the number of features.
        start_index: first position (int or scalar tensor).
        max_wavelength: the 10000 of the formula.

    Returns:
        float32 ``(length, depth)``.
    """
    frequencies, is_cosine = _frequencies(depth, max_wavelength)
    return _encode(length, start_index, frequencies, is_cosine)


def _encode(length, start_index, frequencies, is_cosine):
    positions = ops.cast(ops.arange(length) + start_index, "float32")  # (length,)
    angles = positions[:, None] * frequencies[None, :]  # (length, depth)
    return ops.where(is_cosine[None, :], ops.cos(angles), ops.sin(angles))


@keras.saving.register_keras_serializable(package="kerasseq")
class SinusoidalPositionalEncoding(keras.layers.Layer):
    """Add the fixed sinusoidal position encoding of Vaswani et al. (2017) to the inputs.

        output[..., pos, :] = inputs[..., pos, :] + PE(start_index + pos)
        PE(pos, 2i) = sin(pos / 10000^{2i/d}),   PE(pos, 2i+1) = cos(pos / 10000^{2i/d})

    with sines on the even features and cosines on the odd ones, interleaved as in the paper
    (not the two halves of some implementations), d = the number of features and ``10000`` =
    ``max_wavelength``. The paper also multiplies the token embeddings by √d before adding;
    do that before this layer if wanted. ``start_index`` (a call argument, int or scalar
    tensor) shifts the positions, for incremental decoding one step at a time. The frequency
    vector is computed once in ``build()``. The Keras mask passes through unchanged.

    Input and output: ``(batch, time, features)`` (any leading axes), in the compute dtype
    (the encoding is computed in float32).

    Args:
        max_wavelength: the 10000 of the formula; wavelengths range from 2π to
            2π·max_wavelength.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:
    >>> x = keras.layers.Embedding(1000, 64, mask_zero=True)(token_ids)
    >>> x = SinusoidalPositionalEncoding()(x)  # (batch, time, 64), mask kept
    >>> step = SinusoidalPositionalEncoding()(x_t, start_index=t)  # x_t: (batch, 1, 64)

    References:
        Vaswani et al. 2017, "Attention is all you need", §3.5.
    """

    def __init__(self, max_wavelength: float = 10000.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(max_wavelength, bool) or not isinstance(max_wavelength, (int, float)) \
                or max_wavelength <= 1:
            raise ValueError(f"Expected max_wavelength to be a number > 1. "
                             f"Received: max_wavelength={max_wavelength!r}")
        self.max_wavelength = max_wavelength
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Expected inputs (batch, time, features) with a known number of "
                             f"features. Received: input_shape={input_shape}")
        self._frequencies, self._is_cosine = _frequencies(input_shape[-1], self.max_wavelength)

    def call(self, inputs, start_index=0):
        encoding = _encode(ops.shape(inputs)[-2], start_index, self._frequencies,
                           self._is_cosine)  # (time, features)
        return inputs + ops.cast(encoding, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_wavelength": self.max_wavelength}


@keras.saving.register_keras_serializable(package="kerasseq")
class PositionEmbedding(keras.layers.Layer):
    """Add a learned embedding of each position to the inputs (Gehring et al. 2017; BERT, GPT).

        output[..., pos, :] = inputs[..., pos, :] + P[start_index + pos]

    with a trainable table P ``(max_length, features)``. Positions at or past ``max_length``
    have no embedding: a longer input raises ``ValueError`` when its length is known when the
    layer is called; otherwise TensorFlow fails at run time and JAX clamps the slice (XLA's
    dynamic slice), so keep ``start_index + time <= max_length``. The Keras mask passes
    through unchanged.

    Input and output: ``(batch, time, features)`` (any leading axes).

    Args:
        max_length: number of positions with an embedding.
        embeddings_initializer: initializer of P.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:
    >>> x = keras.layers.Embedding(1000, 64)(token_ids)  # (batch, time <= 128, 64)
    >>> x = PositionEmbedding(128)(x)

    References:
        Gehring et al. 2017, "Convolutional sequence to sequence learning", §3.1; Devlin et al.
        2019, "BERT", §3.
    """

    def __init__(self, max_length: int, embeddings_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"Expected max_length to be a positive integer. "
                             f"Received: max_length={max_length!r}")
        self.max_length = max_length
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Expected inputs (batch, time, features) with a known number of "
                             f"features. Received: input_shape={input_shape}")
        self._check_length(input_shape[-2], 0)
        self.embeddings = self.add_weight((self.max_length, input_shape[-1]),
                                          self.embeddings_initializer, name="embeddings")

    def _check_length(self, length, start_index):
        if isinstance(length, int) and isinstance(start_index, int) \
                and start_index + length > self.max_length:
            raise ValueError(f"Expected start_index + time <= max_length={self.max_length}. "
                             f"Received: start_index={start_index}, time={length}")

    def call(self, inputs, start_index=0):
        length = ops.shape(inputs)[-2]
        self._check_length(length, start_index)
        table = ops.slice(ops.convert_to_tensor(self.embeddings), (start_index, 0),
                          (length, ops.shape(self.embeddings)[1]))  # (time, features)
        return inputs + ops.cast(table, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer)}
