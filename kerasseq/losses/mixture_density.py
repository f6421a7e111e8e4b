"""Graves' mixture density output for pen offsets (Graves 2013, section 4.1): M bivariate
Gaussians for the next offset ``(dx, dy)`` and a Bernoulli end-of-stroke bit, with its
negative log-likelihood (eq. 26) and biased sampling (section 5.4), backend-agnostic.

Raw outputs ``ŷ`` have ``6M + 1`` channels, in this order::

    π̂ (M) | μx (M) | μy (M) | σ̂x (M) | σ̂y (M) | ρ̂ (M) | ê (1)

and stand for (eqs. 18-22, with the sampling bias ``b`` of eqs. 61-62; ``b = 0`` in training)
``π = softmax(π̂ (1 + b))``, ``σ = exp(σ̂ − b)``, ``ρ = tanh(ρ̂)``, ``e = sigmoid(ê)`` (Graves
writes ``e = 1/(1 + exp(ê))``, the same family with ``ê`` negated). Each component's
Gaussian is :mod:`kerasseq.losses.bivariate`'s, with its clamps (``10⁻³ ≤ σ ≤ 10⁴``,
``|ρ| ≤ 1 − 10⁻⁵``).
"""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.losses.bivariate import bivariate_gaussian_nll, sample_bivariate_gaussian


def num_mixture_components(channels: int) -> int:
    """``M`` of raw outputs with ``channels = 6M + 1``; anything else is a ValueError."""
    if channels is None or channels < 7 or (channels - 1) % 6:
        raise ValueError(f"Expected mixture outputs with 6 * M + 1 channels (π̂, μx, μy, σ̂x, σ̂y, "
                         f"ρ̂ for M components, then ê). Received: channels={channels}")
    return (channels - 1) // 6


def mixture_density_params(y_hat, bias=0.0):
    """The mixture raw outputs ``ŷ`` stand for, at sampling bias ``bias``.

    Args:
        y_hat: float ``(..., 6M + 1)`` raw outputs (layout in the module docstring).
        bias: the sampling bias ``b ≥ 0`` (0: the trained distribution).

    Returns:
        dict of float32 tensors: ``logits`` ``(..., M)`` = ``π̂ (1 + b)`` (``π`` is their
        softmax), ``components`` ``(..., M, 5)`` = each Gaussian as
        :func:`kerasseq.losses.bivariate_gaussian_nll` takes it
        ``(μx, μy, σ̂x − b, σ̂y − b, ρ̂)``, and ``eos_logit`` ``(...)`` = ``ê``.

    Example:
    >>> params = mixture_density_params(np.zeros((2, 121)), bias=0.5)
    >>> params["components"].shape  # (2, 20, 5)
    """
    y_hat = ops.cast(y_hat, "float32")
    m = num_mixture_components(y_hat.shape[-1])
    part = lambda k: y_hat[..., k * m:(k + 1) * m]  # noqa: E731  (..., M)
    components = ops.stack([part(1), part(2), part(3) - bias, part(4) - bias, part(5)], axis=-1)
    return {"logits": part(0) * (1.0 + bias), "components": components,  # (..., M), (..., M, 5)
            "eos_logit": y_hat[..., 6 * m]}


def mixture_density_nll(y_true, y_hat, mask=None):
    """Graves' eq. 26 for each point:
    ``−log Σⱼ πⱼ N(x | μⱼ, σⱼ, ρⱼ) − log(e if x₃ = 1 else 1 − e)``.

    The mixture term is a log-sum-exp of ``log πⱼ − NLLⱼ`` (``log_softmax`` of ``π̂`` and each
    component's log-density from ``log σ``, never through densities that underflow); the
    Bernoulli term is ``softplus(ê) − x₃ ê``. Finite for any finite ``ŷ``.

    Args:
        y_true: float ``(..., ≥3)``: ``(dx, dy, end_of_stroke)`` (further channels ignored).
        y_hat: float ``(..., 6M + 1)`` raw outputs.
        mask: optional bool or 0/1 ``(...)``: 0 gives that point an NLL of 0 (padding may
            hold anything, NaN included).

    Returns:
        float32 ``(...)``: the NLL of each point in nats.

    Example:
    >>> mixture_density_nll(np.zeros((1, 3)), np.zeros((1, 121)))  # log 2π + log 2 ≈ [2.531]

    References:
        Graves 2013, "Generating sequences with recurrent neural networks", arXiv:1308.0850,
        section 4.1, eqs. 23-26.
    """
    y_true = ops.cast(y_true, "float32")
    if mask is not None:
        mask = ops.cast(mask, "bool")
        y_true = ops.where(mask[..., None], y_true, 0.0)
    params = mixture_density_params(y_hat)
    log_pi = ops.log_softmax(params["logits"], axis=-1)  # (..., M)
    component_nll = bivariate_gaussian_nll(y_true[..., None, 0:2], params["components"])  # (..., M)
    offset_nll = -ops.logsumexp(log_pi - component_nll, axis=-1)  # (...)
    eos, logit = y_true[..., 2], params["eos_logit"]
    eos_nll = ops.softplus(logit) - eos * logit  # −log Bernoulli(eos | sigmoid(ê))
    nll = offset_nll + eos_nll
    if mask is not None:
        nll = ops.where(mask, nll, 0.0)
    return nll


def sample_mixture_density(y_hat, bias=0.0, seed=None, noise=None):
    """One draw ``(dx, dy, end_of_stroke)`` per position from the mixture of ``ŷ`` at sampling
    bias ``bias``: a component ``j ~ π``, the offset from its Gaussian
    (:func:`kerasseq.losses.sample_bivariate_gaussian`), the bit ``~ Bernoulli(e)``.

    Args:
        y_hat: float ``(..., 6M + 1)`` raw outputs.
        bias: the sampling bias ``b`` (Graves section 5.4; larger: likelier, tidier samples).
        seed: an int or a ``keras.random.SeedGenerator`` for the draws (when ``noise`` is None).
        noise: optional float ``(..., 4)`` noise drawn up front (a compiled sampling loop):
            ``(u_component, ε₁, ε₂, u_end)``, ``u ~ U(0, 1)``, ``ε ~ N(0, 1)``.

    Returns:
        float32 ``(..., 3)``.

    Example:
    >>> point = sample_mixture_density(model(strokes)[:, -1], bias=0.5, seed=0)
    """
    params = mixture_density_params(y_hat, bias)
    if noise is None:
        shape = ops.shape(params["eos_logit"])
        generator = seed if isinstance(seed, keras.random.SeedGenerator) else \
            keras.random.SeedGenerator(seed)
        noise = ops.concatenate([
            keras.random.uniform((*shape, 1), seed=generator),
            keras.random.normal((*shape, 2), seed=generator),
            keras.random.uniform((*shape, 1), seed=generator)], axis=-1)
    noise = ops.cast(noise, "float32")
    pi = ops.softmax(params["logits"], axis=-1)  # (..., M)
    m = params["logits"].shape[-1]
    # Inverse-CDF draw of the component: how many cumulative weights lie below u.
    below = ops.cast(ops.cumsum(pi, axis=-1) < noise[..., 0:1], "int32")
    component = ops.minimum(ops.sum(below, axis=-1), m - 1)  # (...)
    chosen = ops.sum(ops.one_hot(component, m)[..., None] * params["components"], axis=-2)  # (..., 5)
    offset = sample_bivariate_gaussian(chosen, noise=noise[..., 1:3])  # (..., 2)
    eos = ops.cast(noise[..., 3] < ops.sigmoid(params["eos_logit"]), "float32")  # (...)
    return ops.concatenate([offset, eos[..., None]], axis=-1)


def _split_validity(y_true):
    y_true = ops.cast(y_true, "float32")
    channels = y_true.shape[-1]
    if channels not in (3, 4):
        raise ValueError(f"Expected y_true (..., 3) points (dx, dy, end_of_stroke) or (..., 4) "
                         f"with a validity channel. Received: y_true.shape={tuple(y_true.shape)}")
    return y_true, (y_true[..., 3] > 0.5 if channels == 4 else None)


@keras.saving.register_keras_serializable(package="kerasseq")
class MixtureDensityNLL(keras.losses.Loss):
    """Graves' handwriting loss (eq. 26, :func:`mixture_density_nll`) averaged over the valid
    points, or with ``per_sequence`` his ``L(x)``: summed over each sequence's points, averaged
    over the sequences.

    ``y_pred``: ``(..., 6M + 1)`` raw outputs (a :class:`kerasseq.layers.MixtureDensityHead`).
    ``y_true``: ``(..., 3)`` points ``(dx, dy, end_of_stroke)``, or ``(..., 4)`` with a
    validity channel (1 real, 0 padding; padded points may hold anything). With the default
    ``"sum_over_batch_size"`` (or ``"mean"``) reduction the loss is the mean NLL per valid
    point, as Keras averages a masked loss; ``"sum"`` sums over the valid points (nats per
    batch). With ``per_sequence`` the loss is in nats per sequence (the default reduction
    averages over the sequences): each sequence's derivatives are then those of its own
    ``L(x)`` divided by the batch size, the scale Graves' derivative clipping is set for
    (:class:`kerasseq.layers.DerivativeClippedLSTMCell`). The per-sequence figure Graves
    reports is :class:`kerasseq.metrics.MixtureDensityNatsPerSequence`.

    Args:
        per_sequence: sum over each sequence's points (``y_true`` ``(batch, time, 3 or 4)``)
            instead of averaging over all points.
        name / reduction / dtype: as ``keras.losses.Loss``.

    Example:
    >>> model.compile("adam", MixtureDensityNLL(), metrics=[MixtureDensityNatsPerSequence()])

    References:
        Graves 2013, "Generating sequences with recurrent neural networks", arXiv:1308.0850,
        section 4.1, eq. 26.
    """

    def __init__(self, per_sequence=False, name="mixture_density_nll", reduction="sum_over_batch_size",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.per_sequence = bool(per_sequence)

    def call(self, y_true, y_pred):
        y_true, valid = _split_validity(y_true)
        nll = mixture_density_nll(y_true, y_pred, valid)
        if self.per_sequence:
            return ops.sum(nll, axis=-1)  # (batch,): L(x) of each sequence, padding at 0
        if valid is not None and self.reduction in ("sum_over_batch_size", "mean"):
            # Keras divides by the number of points; weigh the valid ones by total / valid.
            total = ops.cast(ops.size(nll), "float32")
            nll = nll * ops.divide_no_nan(total, ops.sum(ops.cast(valid, "float32")))
        return nll

    def get_config(self):
        return {**super().get_config(), "per_sequence": self.per_sequence}
