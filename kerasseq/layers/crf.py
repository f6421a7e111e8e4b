"""Linear-chain conditional random field: the layer, the forward algorithm and Viterbi.

A linear-chain CRF (Lafferty, McCallum & Pereira 2001) scores a tag path y_0..y_{n-1} of a
sentence as s(y) = start[y_0] + Σ_t u_t[y_t] + Σ_{t>0} A[y_{t-1}, y_t] + end[y_{n-1}], with
per-token scores u_t from a network (the BiLSTM-CRF of Lample et al. 2016) and learned
transition scores A, and defines p(y | x) = exp s(y) / Z, Z = Σ_y' exp s(y').

:class:`CRF` turns the per-token scores into *pairwise log-potentials* ψ_t[i, j], the score
of moving from tag i at t−1 to tag j at t with the start and end scores folded in, so that
s(y) = Σ_t ψ_t[y_{t-1}, y_t]. Everything downstream (log-likelihood, Viterbi decoding) is a
pure function of ψ and the mask: a Keras loss needs no reference to the layer, and
``.keras`` save/load and resumed training work as for any model. tensorflow-addons' CRF no
longer works with Keras 3; this one uses ``keras.ops`` only (TensorFlow and JAX, also inside
a compiled ``fit``, with the time length unknown until run time).

The recursions run over time with ``keras.ops.scan`` in float32. They start from the
log-semiring unit vector e_0 = (0, −∞, ..., −∞), so that the first step picks row 0 of the
row-constant ψ_0 and no scan is ever empty (one-token sentences). log Z has a hand-written
gradient, the forward-backward marginals: TensorFlow cannot differentiate a ``while_loop`` of
unknown length under XLA, and the marginals need no per-step residuals on either backend.
"""

from __future__ import annotations

import keras
from keras import ops

# log(0) of the semiring, finite so that sums with it and exp() of it stay NaN-free.
_LOG_ZERO = -1e30


@keras.saving.register_keras_serializable(package="kerasseq")
class CRF(keras.layers.Layer):
    """Linear-chain CRF output layer: per-token tag scores -> pairwise log-potentials.

    For unary scores u (``inputs``), transitions A, start and end scores::

        ψ_0[i, j] = start[j] + u_0[j]              (the same for every i)
        ψ_t[i, j] = A[i, j] + u_t[j]               (t > 0)
        ψ_t[i, j] += end[j]  at each sequence's last valid step t

    so the score of a tag path is s(y) = Σ_{valid t} ψ_t[y_{t−1}, y_t] and
    log p(y | x) = s(y) − log Z (:func:`crf_log_likelihood`). Sequences are right-padded;
    the Keras mask (from ``Embedding(mask_zero=True)``, passed on by ``LSTM``,
    ``Bidirectional`` and ``Dense``) marks the valid steps; without a mask every step is
    valid. The layer returns no mask: the loss takes the padding from the labels (−1), and a
    mask on the potentials would make Keras reweight the per-sequence losses.

    Train with :class:`kerasseq.losses.CRFNegativeLogLikelihood` (tags, −1 on padding);
    decode with :func:`viterbi_decode`.

    Input: ``(batch, time, num_tags)`` scores (and the ``(batch, time)`` mask).
    Output: ``(batch, time, num_tags, num_tags)`` potentials ψ, in the compute dtype.

    Args:
        num_tags: number of tags.
        transitions_initializer: initializer of ``transitions`` (A, from tag i to tag j),
            ``start_transitions`` and ``end_transitions``.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:
    >>> tokens = keras.Input((None,), dtype="int32")
    >>> x = keras.layers.Embedding(1000, 32, mask_zero=True)(tokens)
    >>> x = keras.layers.Bidirectional(keras.layers.LSTM(32, return_sequences=True))(x)
    >>> potentials = CRF(num_tags)(keras.layers.Dense(num_tags)(x))
    >>> model = keras.Model(tokens, potentials)
    >>> model.compile("adam", loss=CRFNegativeLogLikelihood())
    >>> model.fit(token_ids, tag_ids)  # tag_ids: -1 on padding
    >>> tags = viterbi_decode(model(token_ids), mask=token_ids != 0)

    References:
        Lafferty, McCallum & Pereira 2001, "Conditional random fields: probabilistic models
        for segmenting and labeling sequence data"; Lample et al. 2016, "Neural architectures
        for named entity recognition".
    """

    def __init__(self, num_tags: int, transitions_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_tags, int) or num_tags < 1:
            raise ValueError(f"Expected num_tags to be an int >= 1. Received: num_tags={num_tags}")
        self.num_tags = num_tags
        self.transitions_initializer = keras.initializers.get(transitions_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        if input_shape[-1] != self.num_tags:
            raise ValueError(f"Expected inputs with {self.num_tags} tag scores in the last axis. "
                             f"Received: input_shape={input_shape}")
        n = self.num_tags
        init = self.transitions_initializer
        self.transitions = self.add_weight((n, n), init, name="transitions")
        self.start_transitions = self.add_weight((n,), init, name="start_transitions")
        self.end_transitions = self.add_weight((n,), init, name="end_transitions")

    def call(self, inputs, mask=None):
        scores = inputs  # (batch, time, tags)
        dtype = scores.dtype
        if mask is None:
            mask = ops.ones(ops.shape(scores)[:2], "bool")
        mask = ops.cast(mask, dtype)  # (batch, time)
        # The last valid step of each right-padded sequence gets the end scores.
        following = ops.concatenate([mask[:, 1:], ops.zeros_like(mask[:, :1])], axis=1)
        is_last = mask * (1.0 - following)  # (batch, time)
        scores = scores + is_last[..., None] * ops.cast(self.end_transitions, dtype)
        pairwise = ops.cast(self.transitions, dtype)[None, None] + scores[:, :, None, :]  # (batch, time, tags, tags)
        first = ops.cast(self.start_transitions, dtype) + scores[:, 0]  # (batch, tags)
        first = ops.broadcast_to(first[:, None, :], ops.shape(pairwise[:, 0]))  # (batch, tags, tags)
        return ops.concatenate([first[:, None], pairwise[:, 1:]], axis=1)  # (batch, time, tags, tags)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.num_tags)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "num_tags": self.num_tags,
                "transitions_initializer": keras.initializers.serialize(self.transitions_initializer)}


def _prepare(potentials, mask):
    """float32 time-major potentials ``(time, batch, tags, tags)`` and the start vector e_0
    ``(batch, tags)``. Padded steps get the log-semiring identity (0 on the diagonal, −∞
    elsewhere), which carries α, β and δ over them unchanged (and Viterbi's pointers back to
    the same tag), so the scans need no mask: Keras' TensorFlow ``scan`` fails on several
    ``xs`` whose time length is unknown at trace time."""
    potentials = ops.cast(potentials, "float32")  # the recursions in float32, also under mixed precision
    shape = ops.shape(potentials)
    num_tags = shape[-1]
    if mask is not None:
        identity = ops.where(ops.eye(num_tags, dtype="bool"), 0.0, _LOG_ZERO)  # (tags, tags)
        mask = ops.cast(mask, "bool")[:, :, None, None]
        potentials = ops.where(mask, potentials, ops.cast(identity, "float32"))
    start = ops.where(ops.arange(num_tags) == 0, 0.0, _LOG_ZERO)  # (tags,)
    start = ops.broadcast_to(ops.cast(start, "float32")[None], (shape[0], num_tags))
    return ops.moveaxis(potentials, 1, 0), start


def _forward_variables(psi, start):
    """α_t for every t, ``(time, batch, tags)``."""

    def step(alpha, psi_t):  # (batch, tags), (batch, tags, tags)
        alpha = ops.logsumexp(alpha[:, :, None] + psi_t, axis=1)
        return alpha, alpha

    return ops.scan(step, start, psi)[1]


def _backward_variables(psi):
    """β_t for every t, ``(time, batch, tags)``: 0 at the last valid step (and after)."""

    def step(beta, psi_t):  # beta: β_t; returns β_{t−1}, and β_t as the output of step t
        return ops.logsumexp(psi_t + beta[:, None, :], axis=2), beta

    return ops.scan(step, ops.zeros_like(psi[0, :, 0]), psi, reverse=True)[1]


def crf_log_partition(potentials, mask=None):
    """log Z of every sequence by the forward algorithm.

    α_{−1} = e_0 = (0, −∞, ..., −∞); α_t[j] = logsumexp_i(α_{t−1}[i] + ψ_t[i, j]) on valid
    steps, α_t = α_{t−1} on padded ones; log Z = logsumexp_j α_{n−1}[j]. Its gradient is the
    pairwise marginal ∂log Z/∂ψ_t[i, j] = p(y_{t−1} = i, y_t = j) = exp(α_{t−1}[i] + ψ_t[i, j]
    + β_t[j] − log Z), with the backward variables β_{n−1} = 0,
    β_{t−1}[i] = logsumexp_j(ψ_t[i, j] + β_t[j]) (forward-backward; Lafferty et al. 2001 §4).
    A row without any valid step has log Z = 0.

    Args:
        potentials: ``(batch, time, tags, tags)`` from :class:`CRF`.
        mask: ``(batch, time)`` valid steps (right padding), or ``None`` for all.

    Returns:
        ``(batch,)`` float32.
    """
    psi, start = _prepare(potentials, mask)

    @ops.custom_gradient
    def log_partition(psi):
        alphas = _forward_variables(psi, start)  # (time, batch, tags)
        log_z = ops.logsumexp(alphas[-1], axis=-1)  # (batch,)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            betas = _backward_variables(psi)  # (time, batch, tags)
            previous = ops.concatenate([start[None], alphas[:-1]], axis=0)  # α_{t−1}
            marginals = ops.exp(previous[..., :, None] + psi + betas[..., None, :]
                                - log_z[None, :, None, None])  # (time, batch, tags, tags)
            # Padded steps get marginals too, which `_prepare`'s `where` drops.
            return marginals * ops.cast(upstream, "float32")[None, :, None, None]

        return log_z, grad

    return log_partition(psi)


def crf_path_score(potentials, tags, mask=None):
    """Score s(y) = Σ_t ψ_t[y_{t−1}, y_t] of the given tag paths over their valid steps
    (y_{−1} = 0: ψ_0 is the same in every row).

    Args:
        potentials: ``(batch, time, tags, tags)`` from :class:`CRF`.
        tags: ``(batch, time)`` int tag ids (any value on padded steps).
        mask: ``(batch, time)`` valid steps, or ``None`` for all.

    Returns:
        ``(batch,)`` float32.
    """
    potentials = ops.cast(potentials, "float32")
    num_tags = ops.shape(potentials)[-1]
    tags = ops.cast(tags, "int32")
    mask = ops.ones(ops.shape(tags), "bool") if mask is None else ops.cast(mask, "bool")
    tags = ops.where(mask, tags, 0)  # (batch, time)
    previous = ops.concatenate([ops.zeros_like(tags[:, :1]), tags[:, :-1]], axis=1)
    to_tag = ops.one_hot(tags, num_tags, dtype="float32")  # (batch, time, tags)
    from_tag = ops.one_hot(previous, num_tags, dtype="float32")
    per_step = ops.einsum("btij,bti,btj->bt", potentials, from_tag, to_tag)  # (batch, time)
    return ops.sum(ops.where(mask, per_step, 0.0), axis=1)


def crf_log_likelihood(potentials, tags, mask=None):
    """log p(y | x) = s(y) − log Z of the given tag paths.

    Args:
        potentials: ``(batch, time, tags, tags)`` from :class:`CRF`.
        tags: ``(batch, time)`` int tag ids (any value on padded steps).
        mask: ``(batch, time)`` valid steps, or ``None`` for all.

    Returns:
        ``(batch,)`` float32 (0 for a row without valid steps).
    """
    return crf_path_score(potentials, tags, mask) - crf_log_partition(potentials, mask)


def viterbi_decode(potentials, mask=None, return_score: bool = False):
    """The most likely tag path of every sequence (Viterbi's dynamic programme).

    δ_{−1} = e_0; δ_t[j] = max_i(δ_{t−1}[i] + ψ_t[i, j]) with back-pointers
    b_t[j] = argmax_i(...); then y_{n−1} = argmax_j δ_{n−1}[j] and y_{t−1} = b_t[y_t], the
    backtracking a reverse scan. Padded steps keep δ and point back to the same tag.

    Args:
        potentials: ``(batch, time, tags, tags)`` from :class:`CRF`.
        mask: ``(batch, time)`` valid steps (right padding), or ``None`` for all.
        return_score: also return the best path's score max_y s(y).

    Returns:
        ``(batch, time)`` int32 tags (0 on padded steps), and the ``(batch,)`` float32 scores
        if ``return_score``.

    Example:
    >>> tags = viterbi_decode(model(token_ids), mask=token_ids != 0)
    """
    psi, start = _prepare(potentials, mask)

    def forward(delta, psi_t):  # (batch, tags), (batch, tags, tags)
        candidates = delta[:, :, None] + psi_t  # (batch, from, to)
        pointer = ops.argmax(candidates, axis=1)  # (batch, tags)
        # Pointers leave as float32: Keras' TensorFlow scan wants outputs shaped and typed
        # like the carry. Tag ids are exact in float32.
        return ops.max(candidates, axis=1), ops.cast(pointer, "float32")

    delta, pointers = ops.scan(forward, start, psi)  # pointers: (time, batch, tags)

    def backward(tag, pointer):  # tag: y_t (batch,); returns y_{t−1}, and y_t as the output
        pointer = ops.cast(pointer, "int32")
        return ops.take_along_axis(pointer, tag[:, None], axis=1)[:, 0], tag

    last = ops.cast(ops.argmax(delta, axis=-1), "int32")  # (batch,)
    _, tags = ops.scan(backward, last, pointers, reverse=True)  # (time, batch)
    tags = ops.moveaxis(tags, 0, 1)  # (batch, time)
    if mask is not None:
        tags = ops.where(ops.cast(mask, "bool"), tags, 0)
    if return_score:
        return tags, ops.max(delta, axis=-1)
    return tags
