"""Attention: scaled dot-product attention with padding and causal masks, and the additive
(Bahdanau) and multiplicative (Luong) attention of recurrent encoder-decoders.

Multi-head attention is ``keras.layers.MultiHeadAttention`` (its ``attention_mask`` and
``use_causal_mask`` behave as :func:`scaled_dot_product_attention` with :func:`causal_mask`;
``tests/layers/test_attention.py`` checks it against a NumPy reference); the Transformer
blocks in :mod:`kerasseq.layers.transformer` are built on it.

Masks are boolean, ``True`` where attention is allowed (Keras' convention). A query whose
keys are all masked gets all-zero weights and a zero context, never NaN.
"""

from __future__ import annotations

import keras
from keras import ops

# Added to masked scores before the softmax (in float32): exp() of it is exactly 0, and, unlike
# -inf, a fully masked row stays finite (its weights are then zeroed by the mask).
_MASKED_SCORE = -1e9


def causal_mask(query_length, key_length, offset=0):
    """Boolean ``(query_length, key_length)`` mask, ``True`` where query i may attend key j:
    ``j <= i + offset``.

    ``offset=0`` is the mask of ``keras.layers.MultiHeadAttention(use_causal_mask=True)``
    (query i is position i). In cached incremental decoding the queries are the last
    ``query_length`` of ``key_length`` positions: pass ``offset=key_length - query_length``.

    Args:
        query_length: number of queries Tq (int or scalar tensor).
        key_length: number of keys Tk (int or scalar tensor).
        offset: position of the first query (int or scalar tensor).
    """
    rows = ops.arange(query_length)[:, None] + offset  # (Tq, 1)
    return rows >= ops.arange(key_length)[None, :]  # (Tq, Tk)


def masked_softmax(scores, mask=None):
    """Softmax over the last axis of ``scores`` restricted to ``mask`` (broadcastable to
    ``scores``, ``True`` = keep): masked entries get weight exactly 0, and a row with no
    unmasked entry gets all zeros. Computed in float32, returned in the dtype of ``scores``."""
    dtype = scores.dtype
    scores = ops.cast(scores, "float32")
    if mask is None:
        return ops.cast(ops.softmax(scores, axis=-1), dtype)
    mask = ops.cast(mask, "bool")
    weights = ops.softmax(ops.where(mask, scores, _MASKED_SCORE), axis=-1)
    return ops.cast(ops.where(mask, weights, 0.0), dtype)


def scaled_dot_product_attention(query, key, value, mask=None, *, return_weights=True):
    """Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V (Vaswani et al. 2017, eq. 1).

    Any leading (batch, heads, ...) axes broadcast. Masked keys get weight 0; a query with
    every key masked gets zero weights and a zero output.

    With ``return_weights=False`` the weights are not formed: ``(batch, Tq, d)`` and
    ``(batch, heads, Tq, d)`` inputs with ``d_v == d_k`` go through
    ``keras.ops.dot_product_attention``, the backend's fused kernel (on a GPU in float16 or
    bfloat16, a flash-attention kernel that never writes the ``(Tq, Tk)`` scores), with the
    same masking convention and results; other shapes take the explicit path.

    Args:
        query: ``(..., Tq, d_k)``.
        key: ``(..., Tk, d_k)``.
        value: ``(..., Tk, d_v)``.
        mask: boolean, broadcastable to ``(..., Tq, Tk)``, ``True`` where query i may attend
            key j: a padding mask ``(batch, 1, Tk)``, :func:`causal_mask` ``(Tq, Tk)``, or
            both combined with ``ops.logical_and``.
        return_weights: whether to return the attention weights (for alignment plots);
            ``False`` returns ``None`` in their place and allows the fused kernel.

    Returns:
        ``(output, weights)``: ``(..., Tq, d_v)`` and ``(..., Tq, Tk)`` (or ``None``).

    Example:
    >>> mask = ops.logical_and(causal_mask(5, 5), padding_mask[:, None, :])  # (batch, 5, 5)
    >>> output, weights = scaled_dot_product_attention(q, k, v, mask)
    >>> output, _ = scaled_dot_product_attention(q, k, v, mask, return_weights=False)

    References:
        Vaswani et al. 2017, "Attention is all you need", §3.2.1.
    """
    if not return_weights and _fusable(query, key, value):
        return _fused_attention(query, key, value, mask), None
    depth = ops.cast(ops.shape(query)[-1], query.dtype)
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2)) / ops.sqrt(depth)  # (..., Tq, Tk)
    weights = masked_softmax(scores, mask)  # (..., Tq, Tk)
    output = ops.matmul(weights, value)  # (..., Tq, d_v)
    return output, (weights if return_weights else None)


def _fusable(query, key, value):
    ranks = {len(query.shape), len(key.shape), len(value.shape)}
    return ranks in ({3}, {4}) and query.shape[-1] == key.shape[-1] == value.shape[-1]


def _fused_attention(query, key, value, mask):
    """``keras.ops.dot_product_attention`` in kerasseq's layout ``(batch[, heads], T, d)``: it
    takes ``(batch, T, heads, d)``; a fully masked query row is zeroed as in the explicit path
    (the fused kernels average over every key there)."""
    three_d = len(query.shape) == 3
    if mask is not None:  # broadcastable to (batch[, heads], Tq, Tk) -> rank 4
        mask = ops.cast(mask, "bool")
        while len(mask.shape) < len(query.shape):
            mask = mask[None]
        if three_d:
            mask = mask[:, None]
    if three_d:  # one head
        query, key, value = (x[:, None] for x in (query, key, value))
    q, k, v = (ops.swapaxes(x, 1, 2) for x in (query, key, value))  # (batch, T, heads, d)
    scale = 1.0 / float(query.shape[-1]) ** 0.5
    output = ops.swapaxes(ops.dot_product_attention(q, k, v, mask=mask, scale=scale), 1, 2)
    if mask is not None:  # (…, Tq, 1): 0 where a query has no key to attend
        output = output * ops.cast(ops.any(mask, axis=-1, keepdims=True), output.dtype)
    return output[:, 0] if three_d else output


class _RecurrentAttention(keras.layers.Layer):
    """Attention of a decoder state over encoder states: inputs and masks, the softmax and the
    context vector. A subclass supplies the keys (:meth:`compute_keys`) and the scores.

    Inputs ``[query, values]`` or ``[query, values, keys]``: ``query`` ``(batch, q_dim)``
    (one decoder step) or ``(batch, Tq, q_dim)`` (teacher forcing), ``values`` ``(batch, Tv,
    dim)``, ``keys`` from :meth:`compute_keys` (computed once per source sequence and
    reused at every decoding step). Mask ``[query_mask, values_mask(, keys_mask)]``
    (Keras masks fill it; ``keys_mask`` is ignored). Outputs ``[context, weights]``:
    ``(batch, dim)`` and ``(batch, Tv)`` for a 2-D query, ``(batch, Tq, dim)`` and ``(batch,
    Tq, Tv)`` for a 3-D one. The context carries the query's Keras mask.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def _check_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3) \
                or any(x is None or isinstance(x, int) for x in inputs):
            raise ValueError(f"Expected inputs [query, values] or [query, values, keys]. "
                             f"Received: inputs={inputs}")
        return inputs

    def build(self, input_shape):
        query_shape, values_shape = self._check_inputs(input_shape)[:2]
        if len(query_shape) not in (2, 3) or len(values_shape) != 3:
            raise ValueError(f"Expected a query (batch, units) or (batch, Tq, units) and values "
                             f"(batch, Tv, dim). Received: input_shape={input_shape}")
        self.build_weights(query_shape[-1], values_shape[-1])

    def build_weights(self, query_dim, value_dim):
        raise NotImplementedError

    def compute_keys(self, values):
        """The keys of ``values`` ``(batch, Tv, dim)``: pass them as the third input to reuse
        them over decoding steps. The layer must be built (called once) first."""
        raise NotImplementedError

    def scores(self, query, keys):
        """Scores e ``(batch, Tq, Tv)`` of ``query`` ``(batch, Tq, q_dim)``."""
        raise NotImplementedError

    def call(self, inputs, mask=None):
        query, values, *keys = self._check_inputs(inputs)
        keys = keys[0] if keys else self.compute_keys(values)
        single_step = len(query.shape) == 2
        if single_step:
            query = query[:, None, :]  # (batch, 1, q_dim)
        values_mask = None if mask is None else mask[1]
        if values_mask is not None:
            values_mask = ops.cast(values_mask, "bool")[:, None, :]  # (batch, 1, Tv)
        weights = masked_softmax(self.scores(query, keys), values_mask)  # (batch, Tq, Tv)
        context = ops.matmul(weights, ops.cast(values, weights.dtype))  # (batch, Tq, dim)
        # A list, as a Keras model with several outputs returns them (also after loading).
        if single_step:
            return [context[:, 0], weights[:, 0]]
        return [context, weights]

    def compute_mask(self, inputs, mask=None):
        if mask is None or mask[0] is None or len(inputs[0].shape) == 2:
            return None
        return [mask[0], None]


@keras.saving.register_keras_serializable(package="kerasseq")
class BahdanauAttention(_RecurrentAttention):
    """Additive attention of a decoder state over encoder states (Bahdanau et al. 2015).

    For a decoder state s (the query) and encoder states h_j (the values)::

        e_j = v_aᵀ tanh(W_a s + U_a h_j),    α = softmax(e) over unmasked j,    c = Σ_j α_j h_j

    The keys U_a h_j do not depend on s: :meth:`compute_keys` computes them once per source
    sentence for a step-by-step decoder (pass ``[s, h, keys]``); with ``[s, h]`` the layer
    computes them itself. (``keras.layers.AdditiveAttention`` is another
    layer: it has no W_a, U_a and needs equal query and value sizes.)

    Inputs ``[query, values]`` or ``[query, values, keys]``: query ``(batch, q_dim)`` (one
    decoder step, e.g. inside a recurrent cell) or ``(batch, Tq, q_dim)`` (all steps of a
    teacher-forced decoder at once); values ``(batch, Tv, dim)``. Mask ``[query_mask,
    values_mask]``, ``(batch, Tq)`` and ``(batch, Tv)``, filled from Keras masks (e.g.
    ``Embedding(mask_zero=True)``) or passed as ``mask=[None, source_mask]``.
    Outputs ``[context, weights]``, always both (the weights are the alignments to plot):
    ``(batch, dim)`` and ``(batch, Tv)``, or ``(batch, Tq, dim)`` and ``(batch, Tq, Tv)``.
    Weights are 0 on masked source steps; a source with no valid step gives zeros.

    Weights: ``query_kernel`` W_a ``(q_dim, units)``, ``key_kernel`` U_a ``(dim, units)``,
    ``score_kernel`` v_a ``(units,)``.

    Args:
        units: size of the hidden layer of the alignment model (n' in the paper).
        kernel_initializer: initializer of the three kernels.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:
    >>> encoder = keras.layers.Bidirectional(keras.layers.GRU(16, return_sequences=True))
    >>> values = encoder(keras.layers.Embedding(1000, 8, mask_zero=True)(source_ids))
    >>> decoded = keras.layers.GRU(32, return_sequences=True)(target_embeddings)
    >>> context, alignments = BahdanauAttention(32)([decoded, values])  # source mask from Keras
    >>> # One step of a hand-written decoder loop, keys computed once:
    >>> keys = attention.compute_keys(values)
    >>> context, weights = attention([state, values, keys], mask=[None, source_mask, None])

    References:
        Bahdanau, Cho & Bengio 2015, "Neural machine translation by jointly learning to align
        and translate", §3.1 and appendix A.1.2.
    """

    def __init__(self, units: int, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"Expected `units` to be a positive integer. Received: units={units!r}")
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build_weights(self, query_dim, value_dim):
        init = self.kernel_initializer
        self.query_kernel = self.add_weight((query_dim, self.units), init, name="query_kernel")
        self.key_kernel = self.add_weight((value_dim, self.units), init, name="key_kernel")
        # On a vector, Keras' fan-based initializers take fan_in = fan_out = units.
        self.score_kernel = self.add_weight((self.units,), init, name="score_kernel")

    def compute_keys(self, values):
        return ops.matmul(values, self.key_kernel)  # (batch, Tv, units)

    def scores(self, query, keys):
        projected = ops.matmul(query, self.query_kernel)  # (batch, Tq, units)
        hidden = ops.tanh(projected[:, :, None, :] + keys[:, None, :, :])  # (batch, Tq, Tv, units)
        return ops.matmul(hidden, self.score_kernel)  # (batch, Tq, Tv)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


@keras.saving.register_keras_serializable(package="kerasseq")
class LuongAttention(_RecurrentAttention):
    """Multiplicative attention of a decoder state over encoder states (Luong et al. 2015).

    For a decoder state s (the query) and encoder states h_j (the values)::

        dot:      e_j = sᵀ h_j                     (s and h_j of equal size)
        general:  e_j = sᵀ W_a h_j
        α = softmax(e) over unmasked j,            c = Σ_j α_j h_j

    Luong's "concat" score is :class:`BahdanauAttention`. The keys (h_j for "dot",
    W_a h_j for "general") do not depend on s: :meth:`compute_keys` computes them once per
    source sentence. Luong et al. feed the context into the output, h̃ = tanh(W_c [c; s])
    ("attentional hidden state"), and optionally into the next step's input ("input
    feeding"); both are a ``Dense`` and a ``Concatenate`` around this layer.

    Inputs, masks and outputs as :class:`BahdanauAttention`: ``[query, values(, keys)]``
    with a query ``(batch, q_dim)`` or ``(batch, Tq, q_dim)``; returns ``[context, weights]``.

    Weights: ``kernel`` W_a ``(q_dim, dim)`` for "general"; none for "dot".

    Args:
        score: ``"dot"`` or ``"general"``.
        kernel_initializer: initializer of W_a ("general").
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:
    >>> decoded = keras.layers.LSTM(32, return_sequences=True)(target_embeddings)
    >>> context, alignments = LuongAttention("general")([decoded, encoder_states])
    >>> attentional = keras.layers.Dense(32, activation="tanh")(
    ...     keras.layers.Concatenate()([context, decoded]))

    References:
        Luong, Pham & Manning 2015, "Effective approaches to attention-based neural machine
        translation", §3.1, eq. 8.
    """

    SCORES = ("dot", "general")

    def __init__(self, score: str = "general", kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if score not in self.SCORES:
            raise ValueError(f"Expected score to be one of {self.SCORES}. Received: score={score!r}")
        self.score = score
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build_weights(self, query_dim, value_dim):
        if self.score == "dot" and query_dim != value_dim:
            raise ValueError(f"Expected a query and values of equal size for score='dot'. "
                             f"Received: query size {query_dim}, values size {value_dim}")
        if self.score == "general":
            self.kernel = self.add_weight((query_dim, value_dim), self.kernel_initializer,
                                          name="kernel")

    def compute_keys(self, values):
        if self.score == "dot":
            return values  # (batch, Tv, dim)
        return ops.matmul(values, ops.transpose(self.kernel))  # (batch, Tv, q_dim): W_a h_j

    def scores(self, query, keys):
        return ops.matmul(query, ops.swapaxes(ops.cast(keys, query.dtype), 1, 2))  # (batch, Tq, Tv)

    def get_config(self):
        return {**super().get_config(), "score": self.score,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
