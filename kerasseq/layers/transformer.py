"""Transformer encoder and decoder blocks (Vaswani et al. 2017), on
``keras.layers.MultiHeadAttention``.

keras-hub's ``TransformerEncoder``/``TransformerDecoder`` are close, but the decoder cannot
return its cross-attention weights (needed for alignment plots), and importing keras_hub
imports TensorFlow whenever it is installed; these blocks are short and TF-free.

Each sub-layer F (self-attention, cross-attention, feed-forward) is wrapped as

    post-LN (``norm_first=False``, the paper):  x = LayerNorm(x + Dropout(F(x)))
    pre-LN  (``norm_first=True``):              x = x + Dropout(F(LayerNorm(x)))

A pre-LN stack needs one more ``LayerNormalization`` after its last block (Xiong et al. 2020).
"""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.layers.drop_path import StochasticDepth


def _clone(initializer):
    """A fresh copy of ``initializer`` for each sub-layer, as keras-hub does."""
    return initializer.__class__.from_config(initializer.get_config())


class _TransformerBlock(keras.layers.Layer):
    """Arguments, the residual wrapper and the feed-forward sub-layer shared by both blocks."""

    def __init__(self, num_heads: int, intermediate_dim: int, dropout: float = 0.0,
                 attention_dropout: float = 0.0, activation="relu", norm_first: bool = False,
                 layer_norm_epsilon: float = 1e-5, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", seed=None, drop_path: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_heads", num_heads), ("intermediate_dim", intermediate_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Expected `{name}` to be a positive integer. "
                                 f"Received: {name}={value!r}")
        for name, rate in (("dropout", dropout), ("attention_dropout", attention_dropout),
                           ("drop_path", drop_path)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"Expected 0 <= {name} < 1. Received: {name}={rate!r}")
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.activation = keras.activations.get(activation)
        self.norm_first = bool(norm_first)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed = seed
        self.drop_path = float(drop_path)
        self.supports_masking = True
        self._seed_count = 0

    def _next_seed(self):
        """A distinct seed per random sub-layer (None stays None)."""
        self._seed_count += 1
        return None if self.seed is None else self.seed + self._seed_count

    def _check_model_dim(self, input_shape):
        model_dim = input_shape[-1]
        if model_dim is None or model_dim % self.num_heads:
            raise ValueError(f"Expected the number of features to be divisible by num_heads="
                             f"{self.num_heads}. Received: input_shape={input_shape}")
        return model_dim

    def _common(self, cls, name, **kwargs):
        return cls(**kwargs, name=name, dtype=self.dtype_policy)

    def _attention(self, name, model_dim):
        return self._common(
            keras.layers.MultiHeadAttention, name, num_heads=self.num_heads,
            key_dim=model_dim // self.num_heads, dropout=self.attention_dropout,
            kernel_initializer=_clone(self.kernel_initializer),
            bias_initializer=_clone(self.bias_initializer), seed=self._next_seed())

    def _residual_parts(self, name, shape):
        """The LayerNorm and Dropout wrapping sub-layer ``name`` (the Dropout followed by
        stochastic depth when ``drop_path > 0``)."""
        norm = self._common(keras.layers.LayerNormalization, f"{name}_norm",
                            epsilon=self.layer_norm_epsilon)
        norm.build(shape)
        dropout = self._common(keras.layers.Dropout, f"{name}_dropout", rate=self.dropout,
                               seed=self._next_seed())
        if self.drop_path > 0.0:  # created only when used: seeds and layers as before otherwise
            drop_path = self._common(StochasticDepth, f"{name}_drop_path", rate=self.drop_path,
                                     seed=self._next_seed())
            return norm, _DropoutThenDropPath(dropout, drop_path, name=f"{name}_residual_drop",
                                              dtype=self.dtype_policy)
        return norm, dropout

    def _build_feedforward(self, shape):
        """FFN(x) = activation(x W_1 + b_1) W_2 + b_2 (§3.3), applied at every position."""
        def dense(name, units, activation=None):
            return self._common(keras.layers.Dense, name, units=units, activation=activation,
                                kernel_initializer=_clone(self.kernel_initializer),
                                bias_initializer=_clone(self.bias_initializer))

        self.feedforward_intermediate = dense("feedforward_intermediate", self.intermediate_dim,
                                              self.activation)
        self.feedforward_intermediate.build(shape)
        self.feedforward_output = dense("feedforward_output", shape[-1])
        self.feedforward_output.build((*shape[:-1], self.intermediate_dim))
        self.feedforward_norm, self.feedforward_dropout = self._residual_parts("feedforward", shape)

    def _sublayer(self, x, function, norm, dropout, training):
        y = function(norm(x) if self.norm_first else x)
        x = x + dropout(y, training=training)
        return x if self.norm_first else norm(x)

    def _feedforward(self, x, training):
        return self._sublayer(
            x, lambda y: self.feedforward_output(self.feedforward_intermediate(y)),
            self.feedforward_norm, self.feedforward_dropout, training)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "activation": keras.activations.serialize(self.activation),
            "norm_first": self.norm_first,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "seed": self.seed,
            "drop_path": self.drop_path,
        }


class _DropoutThenDropPath(keras.layers.Layer):
    """Dropout, then stochastic depth, on a residual branch: x + DropPath(Dropout(F(x))), as
    timm's ``x + drop_path(proj_drop(...))``. A layer, so that the seed generator of the
    stochastic depth is tracked (JAX's stateless calls); rebuilt by its block, never saved."""

    def __init__(self, dropout, drop_path, **kwargs):
        super().__init__(**kwargs)
        self.dropout, self.drop_path = dropout, drop_path
        self.supports_masking = True

    def call(self, x, training=None):
        return self.drop_path(self.dropout(x, training=training), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape


def _fresh(x):
    """A copy of a tensor this layer did not create. ``MultiHeadAttention`` deletes the Keras
    mask of the tensors it is called on, in place: handing it an input of the block would
    remove that input's mask for every other layer that reads it (Keras 3.15)."""
    return ops.copy(x)


def _key_padding_mask(mask):
    """``(batch, T)`` padding mask -> ``(batch, 1, T)``: every query may attend the valid keys."""
    return None if mask is None else ops.cast(mask, "bool")[:, None, :]


_ARGS_DOC = """
    Args:
        num_heads: number of attention heads h; the number of features d_model must be
            divisible by it (d_k = d_v = d_model / h).
        intermediate_dim: width d_ff of the position-wise feed-forward network.
        dropout: rate of the dropout on each sub-layer's output, before the residual sum
            (P_drop of the paper).
        attention_dropout: rate of the dropout on the attention weights.
        activation: activation of the feed-forward network (the paper: ReLU).
        norm_first: ``False``: post-LN, as in the paper; ``True``: pre-LN.
        layer_norm_epsilon: epsilon of the layer normalizations.
        kernel_initializer / bias_initializer: of the attention projections and the
            feed-forward network.
        seed: seed of the dropout layers (each gets its own, derived from it).
        drop_path: rate of stochastic depth on each sub-layer's residual branch (after its
            dropout; :class:`~kerasseq.layers.StochasticDepth`, timm's ``DropPath``).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).
"""


@keras.saving.register_keras_serializable(package="kerasseq")
class TransformerEncoderBlock(_TransformerBlock):
    __doc__ = """One Transformer encoder layer: self-attention and a position-wise FFN.

        x = Sub(x, MultiHeadSelfAttention(x, x, padding mask));   x = Sub(x, FFN(x))

    where Sub is the residual wrapper of :mod:`kerasseq.layers.transformer` (post-LN or
    pre-LN, with dropout) and FFN(x) = max(0, x W_1 + b_1) W_2 + b_2.

    Input ``(batch, time, d_model)`` and optional padding ``mask`` ``(batch, time)`` (``True``
    = token; filled from Keras masks, e.g. ``Embedding(mask_zero=True)``): padded keys get no
    attention. Output ``(batch, time, d_model)`` with the same Keras mask; outputs at padded
    positions are not meaningful.
    """ + _ARGS_DOC + """
    Example:
    >>> x = keras.layers.Embedding(1000, 64, mask_zero=True)(source_ids)
    >>> x = SinusoidalPositionalEncoding()(x)
    >>> for _ in range(2):
    ...     x = TransformerEncoderBlock(num_heads=4, intermediate_dim=128, dropout=0.1)(x)

    References:
        Vaswani et al. 2017, "Attention is all you need", §3.1-3.3; Xiong et al. 2020, "On
        layer normalization in the Transformer architecture" (pre-LN).
    """

    def build(self, input_shape):
        model_dim = self._check_model_dim(input_shape)
        self.self_attention = self._attention("self_attention", model_dim)
        self.self_attention.build(input_shape, input_shape)
        self.self_attention_norm, self.self_attention_dropout = self._residual_parts(
            "self_attention", input_shape)
        self._build_feedforward(input_shape)

    def call(self, inputs, mask=None, training=None):
        attention_mask = _key_padding_mask(mask)  # (batch, 1, time)
        x = self._sublayer(
            _fresh(inputs), lambda y: self.self_attention(y, y, attention_mask=attention_mask,
                                                  training=training),
            self.self_attention_norm, self.self_attention_dropout, training)
        return self._feedforward(x, training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, inputs, mask=None):
        return mask


@keras.saving.register_keras_serializable(package="kerasseq")
class TransformerDecoderBlock(_TransformerBlock):
    __doc__ = """One Transformer decoder layer: masked self-attention, cross-attention over
    the encoder outputs and a position-wise FFN.

        x = Sub(x, MultiHeadSelfAttention(x, x, causal & target padding mask))
        x = Sub(x, MultiHeadAttention(x, encoder_outputs, source padding mask))
        x = Sub(x, FFN(x))

    with Sub the residual wrapper of :mod:`kerasseq.layers.transformer` (post-LN or pre-LN,
    with dropout). Target position i attends target positions j <= i (the causal mask of
    ``MultiHeadAttention(use_causal_mask=True)``, :func:`kerasseq.layers.causal_mask`).

    Inputs ``[target, source]``: ``(batch, Tq, d_model)`` decoder inputs and ``(batch, Tv,
    d_source)`` encoder outputs. Mask ``[target_mask, source_mask]`` (``(batch, Tq)``,
    ``(batch, Tv)``, ``True`` = token), filled from Keras masks or passed as ``mask=``.
    Output ``(batch, Tq, d_model)`` with the target's Keras mask; with
    ``return_attention_scores=True`` (a call argument) also the cross-attention weights
    ``(batch, num_heads, Tq, Tv)`` (0 on padded source positions), for alignment plots.

    Incremental decoding: :meth:`initial_cache` and :meth:`decode_step` run the block on one
    new position at a time with a key/value cache (the self-attention keys and values of the
    earlier positions, and the cross-attention keys and values of the source, projected
    once), O(T) per step instead of re-running the whole prefix; same weights, same result.
    """ + _ARGS_DOC + """
    Example:
    >>> y = SinusoidalPositionalEncoding()(keras.layers.Embedding(1000, 64, mask_zero=True)(target_ids))
    >>> y, alignments = TransformerDecoderBlock(4, 128)([y, encoded], return_attention_scores=True)

    References:
        Vaswani et al. 2017, "Attention is all you need", §3.1-3.3; Xiong et al. 2020, "On
        layer normalization in the Transformer architecture" (pre-LN).
    """

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 \
                or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"Expected inputs [target, source]. Received: input_shape={input_shape}")
        target_shape, source_shape = input_shape
        model_dim = self._check_model_dim(target_shape)
        self.self_attention = self._attention("self_attention", model_dim)
        self.self_attention.build(target_shape, target_shape)
        self.self_attention_norm, self.self_attention_dropout = self._residual_parts(
            "self_attention", target_shape)
        self.cross_attention = self._attention("cross_attention", model_dim)
        self.cross_attention.build(target_shape, source_shape)
        self.cross_attention_norm, self.cross_attention_dropout = self._residual_parts(
            "cross_attention", target_shape)
        self._build_feedforward(target_shape)

    def call(self, inputs, mask=None, training=None, return_attention_scores=False):
        target, source = _fresh(inputs[0]), _fresh(inputs[1])
        target_mask, source_mask = (None, None) if mask is None else mask
        self_mask = _key_padding_mask(target_mask)  # (batch, 1, Tq), ANDed with the causal mask
        x = self._sublayer(
            target, lambda y: self.self_attention(y, y, attention_mask=self_mask,
                                                  use_causal_mask=True, training=training),
            self.self_attention_norm, self.self_attention_dropout, training)
        cross_weights = []

        def cross_attention(y):
            out = self.cross_attention(y, source, attention_mask=_key_padding_mask(source_mask),
                                       return_attention_scores=return_attention_scores,
                                       training=training)
            if return_attention_scores:
                out, weights = out
                cross_weights.append(weights)  # (batch, heads, Tq, Tv)
            return out

        x = self._sublayer(x, cross_attention, self.cross_attention_norm,
                           self.cross_attention_dropout, training)
        x = self._feedforward(x, training)
        return [x, cross_weights[0]] if return_attention_scores else x

    def initial_cache(self, source, max_length: int) -> dict:
        """The cache of :meth:`decode_step` before the first position: the cross-attention
        keys and values of ``source`` ``(batch, S, d_source)``, and zeroed self-attention
        buffers for ``max_length`` positions, ``(batch, max_length, num_heads, key_dim)``."""
        source = _fresh(ops.convert_to_tensor(source))
        cross = self.cross_attention
        key, value = cross._key_dense(source), cross._value_dense(source)
        attention = self.self_attention
        batch = ops.shape(source)[0]
        buffer = (batch, max_length, self.num_heads, attention._key_dim)
        return {"cross_key": key, "cross_value": value,
                "key": ops.zeros(buffer, key.dtype),
                "value": ops.zeros((batch, max_length, self.num_heads, attention._value_dim), value.dtype)}

    def decode_step(self, x, cache: dict, index, source_mask=None, return_attention_scores=False):
        """Run the block (inference) on position ``index`` alone, reading and extending ``cache``.

        Args:
            x: ``(batch, 1, d_model)`` the block's input at position ``index``.
            cache: from :meth:`initial_cache` or the previous step.
            index: the position (int or scalar int tensor), ``< max_length``.
            source_mask: ``(batch, S)``, ``True`` on source tokens.
            return_attention_scores: also return the cross-attention weights
                ``(batch, num_heads, 1, S)``.

        Returns:
            ``(y, cache)`` (and the weights): ``y`` ``(batch, 1, d_model)`` equals position
            ``index`` of ``call`` on the whole prefix; the cache holds this position's keys
            and values too.
        """
        x = _fresh(x)  # no Keras mask reaches the attention projections
        attention = self.self_attention
        length = ops.shape(cache["key"])[1]
        here = ops.arange(length) == index  # (L,)
        new_cache = dict(cache)

        def self_attend(y):
            query = attention._query_dense(y)  # (batch, 1, heads, key_dim)
            keys = ops.where(here[None, :, None, None], attention._key_dense(y), cache["key"])
            values = ops.where(here[None, :, None, None], attention._value_dense(y), cache["value"])
            new_cache["key"], new_cache["value"] = keys, values
            visible = ops.broadcast_to((ops.arange(length) <= index)[None, None, :],
                                       (ops.shape(y)[0], 1, length))  # (batch, 1, L)
            out, _ = attention._compute_attention(query, keys, values, visible, False)
            return attention._output_dense(out)

        weights = []

        def cross_attend(y):
            cross = self.cross_attention
            mask = None if source_mask is None else ops.cast(source_mask, "bool")[:, None, :]
            out, scores = cross._compute_attention(cross._query_dense(y), cache["cross_key"],
                                                   cache["cross_value"], mask, False,
                                                   return_attention_scores)
            weights.append(scores)
            return cross._output_dense(out)

        x = self._sublayer(x, self_attend, self.self_attention_norm, self.self_attention_dropout, False)
        x = self._sublayer(x, cross_attend, self.cross_attention_norm, self.cross_attention_dropout, False)
        x = self._feedforward(x, False)
        return (x, new_cache, weights[0]) if return_attention_scores else (x, new_cache)

    def compute_mask(self, inputs, mask=None):
        return None if mask is None else mask[0]
