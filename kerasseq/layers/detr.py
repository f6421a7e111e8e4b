"""DETR's layers (Carion et al., ECCV 2020): the 2-D sine position encoding, the learned
object queries, and Transformer encoder/decoder layers that add the positions to the queries
and keys of **every** attention (not once at the input, as the original Transformer does).

    encoder:  q = k = x + pos;            x = Sub(x, SelfAttention(q, k, v=x));    x = Sub(x, FFN(x))
    decoder:  q = k = t + query_pos;      t = Sub(t, SelfAttention(q, k, v=t))
              q = t + query_pos, k = memory + pos;  t = Sub(t, CrossAttention(q, k, v=memory))
              t = Sub(t, FFN(t))

Sub is the residual wrapper of :mod:`kerasseq.layers.transformer` (post-LN as DETR, or
pre-LN). The object queries are DETR's ``query_pos``; the decoder input ``t`` starts at zero.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from kerasseq.layers.transformer import _ARGS_DOC, _TransformerBlock, _fresh


def sine_position_encoding_2d(height: int, width: int, depth: int, temperature: float = 10000.0,
                              normalize: bool = True, scale: float = 2 * math.pi) -> np.ndarray:
    """DETR's ``PositionEmbeddingSine`` for an unpadded ``height × width`` feature map.

    Half of the ``depth`` channels encode y, half x; each half is sin/cos pairs
    ``sin(p / T^{2i/(depth/2)})``, ``cos(...)`` of the position p, where p = 1..H (rows) or
    1..W (columns), normalised to (0, 2π] when ``normalize``. Channels are ``[y | x]``, each
    interleaved ``sin, cos, sin, cos ...`` as in DETR.

    Returns:
        float32 array ``(height, width, depth)``.
    """
    if depth % 4:
        raise ValueError(f"Expected depth to be a multiple of 4. Received: depth={depth}")
    features = depth // 2
    y = np.arange(1, height + 1, dtype="float64")[:, None] * np.ones((1, width))  # (H, W)
    x = np.ones((height, 1)) * np.arange(1, width + 1, dtype="float64")[None, :]  # (H, W)
    if normalize:
        eps = 1e-6
        y = y / (y[-1:, :] + eps) * scale
        x = x / (x[:, -1:] + eps) * scale
    dim_t = temperature ** (2 * (np.arange(features) // 2) / features)  # (features,)

    def encode(p):
        p = p[..., None] / dim_t  # (H, W, features)
        return np.stack([np.sin(p[..., 0::2]), np.cos(p[..., 1::2])], axis=-1).reshape(
            height, width, features)

    return np.concatenate([encode(y), encode(x)], axis=-1).astype("float32")


@keras.saving.register_keras_serializable(package="kerasseq")
class SinePositionEmbedding2D(keras.layers.Layer):
    """DETR's 2-D sine position encoding of a feature map (no weights).

    Computed once in ``build`` by :func:`sine_position_encoding_2d`: for each cell, half the
    channels are sine/cosine of the normalised row position and half of the column position,
    temperature 10000.

    Input ``(batch, height, width, channels)``; output ``(batch, height, width, depth)`` with
    ``depth`` = ``channels`` unless given.

    Args:
        depth: channels of the encoding (a multiple of 4); default: the input's channels.
        temperature: T of the wavelengths.
        normalize: scale positions to (0, 2π] (DETR: yes).
        **kwargs: base layer arguments.

    Example:
    >>> features = keras.Input((8, 8, 128))
    >>> pos = SinePositionEmbedding2D()(features)  # (None, 8, 8, 128)

    References:
        Carion et al. 2020, "End-to-end object detection with Transformers", §3.2 and the
        supplement (A.3); Parmar et al. 2018, "Image Transformer".
    """

    def __init__(self, depth=None, temperature: float = 10000.0, normalize: bool = True, **kwargs):
        super().__init__(**kwargs)
        if depth is not None and (int(depth) < 4 or int(depth) % 4):
            raise ValueError(f"Expected depth to be a positive multiple of 4. Received: depth={depth}")
        self.depth = None if depth is None else int(depth)
        self.temperature = float(temperature)
        self.normalize = bool(normalize)

    def build(self, input_shape):
        height, width, channels = input_shape[1:4]
        if height is None or width is None:
            raise ValueError(f"Expected a feature map of known height and width. "
                             f"Received: input_shape={input_shape}")
        depth = self.depth or channels
        self._encoding = sine_position_encoding_2d(height, width, depth, self.temperature,
                                                   self.normalize)

    def call(self, inputs):
        encoding = ops.cast(ops.convert_to_tensor(self._encoding), self.compute_dtype)
        batch = ops.shape(inputs)[0]
        return ops.broadcast_to(encoding[None], (batch, *self._encoding.shape))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], input_shape[2], self.depth or input_shape[3])

    def get_config(self):
        return {**super().get_config(), "depth": self.depth, "temperature": self.temperature,
                "normalize": self.normalize}


@keras.saving.register_keras_serializable(package="kerasseq")
class ObjectQueries(keras.layers.Layer):
    """DETR's N learned object queries (the decoder's ``query_pos``).

    Input: any tensor whose first axis is the batch (the memory, say); output
    ``(batch, num_queries, depth)``: the same learned embeddings for every image.

    Args:
        num_queries: N, the number of predictions per image (more than the most objects an
            image holds).
        depth: d_model.
        embeddings_initializer: of the query table (default: standard normal, as DETR).
        **kwargs: base layer arguments.

    Example:
    >>> queries = ObjectQueries(100, 256)(memory)  # (batch, 100, 256)
    """

    def __init__(self, num_queries: int, depth: int, embeddings_initializer=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_queries", num_queries), ("depth", depth)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Expected `{name}` to be a positive integer. "
                                 f"Received: {name}={value!r}")
        self.num_queries = num_queries
        self.depth = depth
        # DETR's nn.Embedding: N(0, 1). Small queries (Keras' default N(0, 0.05)) leave every
        # query's decoder state nearly the same: all queries then predict one box.
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer or keras.initializers.RandomNormal(stddev=1.0))

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.num_queries, self.depth),
                                          initializer=self.embeddings_initializer,
                                          name="embeddings")

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        return ops.broadcast_to(ops.cast(self.embeddings, self.compute_dtype)[None],
                                (batch, self.num_queries, self.depth))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_queries, self.depth)

    def get_config(self):
        return {**super().get_config(), "num_queries": self.num_queries, "depth": self.depth,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer)}


def _check_inputs(input_shape, count, names):
    shapes = list(input_shape) if isinstance(input_shape, (list, tuple)) and input_shape and \
        isinstance(input_shape[0], (list, tuple)) else None
    if shapes is None or len(shapes) != count:
        raise ValueError(f"Expected a list of {count} tensors {names}. "
                         f"Received: input_shape={input_shape}")
    return shapes


@keras.saving.register_keras_serializable(package="kerasseq")
class DETREncoderLayer(_TransformerBlock):
    __doc__ = """One DETR encoder layer: self-attention whose queries and keys carry the
    position encoding, then the position-wise FFN.

        q = k = x + pos;   x = Sub(x, MultiHeadAttention(q, k, v=x));   x = Sub(x, FFN(x))

    Call ``layer([x, pos])`` with ``x`` and ``pos`` both ``(batch, tokens, d_model)`` (the
    flattened feature map and its :class:`SinePositionEmbedding2D`); output like ``x``.
    """ + _ARGS_DOC + """
    Example:
    >>> x = DETREncoderLayer(num_heads=8, intermediate_dim=2048, dropout=0.1)([tokens, pos])

    References:
        Carion et al. 2020, "End-to-end object detection with Transformers", Fig. 10.
    """

    def build(self, input_shape):
        input_shape = _check_inputs(input_shape, 2, "[x, pos]")[0]
        model_dim = self._check_model_dim(input_shape)
        self.self_attention = self._attention("self_attention", model_dim)
        self.self_attention.build(input_shape, input_shape, input_shape)
        self.self_attention_norm, self.self_attention_dropout = self._residual_parts(
            "self_attention", input_shape)
        self._build_feedforward(input_shape)

    def call(self, inputs, training=None, return_attention_scores=False):
        inputs, pos = inputs
        scores = []

        def attend(y):
            query = y + pos
            out, weights = self.self_attention(query, y, key=query, training=training,
                                               return_attention_scores=True)
            scores.append(weights)
            return out

        x = self._sublayer(_fresh(inputs), attend, self.self_attention_norm,
                           self.self_attention_dropout, training)
        x = self._feedforward(x, training)
        return (x, scores[0]) if return_attention_scores else x


@keras.saving.register_keras_serializable(package="kerasseq")
class DETRDecoderLayer(_TransformerBlock):
    __doc__ = """One DETR decoder layer: self-attention among the object queries,
    cross-attention to the encoder memory, FFN; positions on every query and key.

        q = k = t + query_pos;   t = Sub(t, MultiHeadAttention(q, k, v=t))
        t = Sub(t, MultiHeadAttention(t + query_pos, memory + pos, v=memory))
        t = Sub(t, FFN(t))

    Call ``layer([t, memory, query_pos, pos])``: ``t`` and ``query_pos`` ``(batch, queries,
    d_model)``, ``memory`` and ``pos`` ``(batch, tokens, d_model)``. Output like ``t``; with
    ``return_attention_scores=True`` also the cross-attention weights
    ``(batch, heads, queries, tokens)`` (the paper's Fig. 6).
    """ + _ARGS_DOC + """
    Example:
    >>> t = DETRDecoderLayer(8, 2048, dropout=0.1)([t, memory, query_pos, pos])

    References:
        Carion et al. 2020, "End-to-end object detection with Transformers", Fig. 10.
    """

    def build(self, input_shape):
        input_shape, memory_shape = _check_inputs(input_shape, 4, "[t, memory, query_pos, pos]")[:2]
        model_dim = self._check_model_dim(input_shape)
        self.self_attention = self._attention("self_attention", model_dim)
        self.self_attention.build(input_shape, input_shape, input_shape)
        self.self_attention_norm, self.self_attention_dropout = self._residual_parts(
            "self_attention", input_shape)
        self.cross_attention = self._attention("cross_attention", model_dim)
        self.cross_attention.build(input_shape, memory_shape, memory_shape)
        self.cross_attention_norm, self.cross_attention_dropout = self._residual_parts(
            "cross_attention", input_shape)
        self._build_feedforward(input_shape)

    def call(self, inputs, training=None, return_attention_scores=False):
        inputs, memory, query_pos, pos = inputs
        scores = []

        def self_attend(y):
            query = y + query_pos
            return self.self_attention(query, y, key=query, training=training)

        def cross_attend(y):
            out, weights = self.cross_attention(y + query_pos, memory, key=memory + pos,
                                                training=training, return_attention_scores=True)
            scores.append(weights)  # (batch, heads, queries, tokens)
            return out

        x = self._sublayer(_fresh(inputs), self_attend, self.self_attention_norm,
                           self.self_attention_dropout, training)
        x = self._sublayer(x, cross_attend, self.cross_attention_norm,
                           self.cross_attention_dropout, training)
        x = self._feedforward(x, training)
        return (x, scores[0]) if return_attention_scores else x
