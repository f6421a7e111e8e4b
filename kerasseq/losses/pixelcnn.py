"""The PixelCNN likelihoods: negative log-likelihood per image in nats (Bernoulli, 256-way
softmax, or PixelCNN++'s discretised logistic mixture) and the logistic mixture's sampler.

The discretised logistic mixture (Salimans, Karpathy, Chen and Kingma 2017, "PixelCNN++",
§2.1-2.2): a sub-pixel value ``x`` in 0..255 is rescaled to ``[-1, 1]`` and given the mass of
a mixture of logistics between its bin edges ``x ± 1/255`` (the edge bins 0 and 255 extend to
``∓∞``); the colours of one pixel share the mixture component, and the means of G and B depend
linearly on the pixel's earlier colours::

    p(x) = Σ_k π_k ∏_c [σ((x_c + 1/255 - μ_kc) / s_kc) - σ((x_c - 1/255 - μ_kc) / s_kc)]
    μ_kG = m_kG + α_k x_R,   μ_kB = m_kB + β_k x_R + γ_k x_G

Parameter layout per pixel (channels of the model output), for ``K`` mixtures and ``C``
colours: ``[π logits K | means C·K | log scales C·K | coefficients C(C-1)/2·K]``, each block
colour-major (``[c·K + k]``); the coefficients are ``tanh``-squashed and ordered (G on R),
(B on R), (B on G) as in the official code. For C = 3 that is the official 10·K channels.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

OUTPUTS = ("bernoulli", "softmax256", "logistic_mixture")


def num_logistic_mixture_params(colours: int, num_mixtures: int) -> int:
    """Channels of the logistic mixture's parameters per pixel: ``K (1 + 2C + C(C-1)/2)``."""
    return num_mixtures * (1 + 2 * colours + colours * (colours - 1) // 2)


def _mixture_params(params, colours, num_mixtures):
    """``(logit_probs (..., K), means (..., C, K), log_scales (..., C, K), coeffs (..., P, K))``
    from the flat ``(..., channels)`` parameters."""
    k, c = num_mixtures, colours
    expected = num_logistic_mixture_params(c, k)
    if params.shape[-1] != expected:
        raise ValueError(f"Expected {expected} logistic mixture parameters per pixel for "
                         f"{c} colours and num_mixtures={k}. Received: {params.shape[-1]}")
    lead = tuple(-1 if d is None else d for d in params.shape[:-1])
    if lead.count(-1) > 1:
        lead = tuple(ops.shape(params)[:-1])
    logit_probs = params[..., :k]
    means = ops.reshape(params[..., k:k + c * k], (*lead, c, k))
    log_scales = ops.maximum(ops.reshape(params[..., k + c * k:k + 2 * c * k], (*lead, c, k)), -7.0)
    coeffs = ops.tanh(ops.reshape(params[..., k + 2 * c * k:], (*lead, c * (c - 1) // 2, k)))
    return logit_probs, means, log_scales, coeffs


def _coupled_means(means, coeffs, x):
    """Means with the linear dependence on the pixel's earlier colours (§2.2): colour ``c``'s
    mean plus ``Σ_{d<c} coeff_(c,d) x_d``; ``x`` ``(..., C, 1)`` in [-1, 1]."""
    colours = means.shape[-2]
    coupled, pair = [means[..., 0, :]], 0
    for c in range(1, colours):
        mean = means[..., c, :]
        for d in range(c):
            mean = ops.add(mean, ops.multiply(coeffs[..., pair, :], x[..., d, :]))
            pair += 1
        coupled.append(mean)
    return ops.stack(coupled, axis=-2)


def discretized_logistic_mixture_log_prob(targets, params, num_mixtures: int = 10):
    """``log p(x)`` of every pixel ``(batch, h, w)`` under the discretised logistic mixture.

    Follows the official PixelCNN++ ``discretized_mix_logistic_loss``, with its numerically
    safe branches: the edge values 0 and 255 take ``log σ(plus)`` and ``log(1 - σ(min))``
    from softplus; an interior bin takes ``log(cdf_plus - cdf_min)`` while that difference
    exceeds 1e-5, else the density at the bin centre times the bin width
    (``log_pdf_mid - log 127.5``).

    Args:
        targets: the levels 0..255, ``(batch, h, w, colours)``.
        params: ``(batch, h, w, num_logistic_mixture_params(colours, num_mixtures))``.
        num_mixtures: ``K``.
    """
    colours = targets.shape[-1]
    logit_probs, means, log_scales, coeffs = _mixture_params(params, colours, num_mixtures)
    x = ops.subtract(ops.divide(ops.cast(targets, params.dtype), 127.5), 1.0)[..., None]
    centered = ops.subtract(x, _coupled_means(means, coeffs, x))  # (b, h, w, C, K)
    inv_s = ops.exp(ops.negative(log_scales))
    plus_in = ops.multiply(inv_s, ops.add(centered, 1.0 / 255.0))
    min_in = ops.multiply(inv_s, ops.subtract(centered, 1.0 / 255.0))
    mid_in = ops.multiply(inv_s, centered)
    log_cdf_plus = ops.subtract(plus_in, ops.softplus(plus_in))  # log σ(plus): the value 0
    log_one_minus_cdf_min = ops.negative(ops.softplus(min_in))  # log(1 - σ(min)): 255
    cdf_delta = ops.subtract(ops.sigmoid(plus_in), ops.sigmoid(min_in))
    log_pdf_mid = ops.subtract(ops.subtract(mid_in, log_scales),
                               ops.multiply(2.0, ops.softplus(mid_in)))
    interior = ops.where(cdf_delta > 1e-5, ops.log(ops.maximum(cdf_delta, 1e-12)),
                         ops.subtract(log_pdf_mid, float(np.log(127.5))))
    log_probs = ops.where(x < -0.999, log_cdf_plus,
                          ops.where(x > 0.999, log_one_minus_cdf_min, interior))
    log_probs = ops.add(ops.sum(log_probs, axis=-2), ops.log_softmax(logit_probs, axis=-1))
    return ops.logsumexp(log_probs, axis=-1)


def discretized_logistic_mixture_nll(targets, params, num_mixtures: int = 10):
    """Each image's negative log-likelihood in nats, ``(batch,)``."""
    log_p = discretized_logistic_mixture_log_prob(targets, params, num_mixtures)
    return ops.negative(ops.sum(ops.reshape(log_p, (ops.shape(log_p)[0], -1)), axis=-1))


def sample_discretized_logistic_mixture(params, colours: int, num_mixtures: int, gumbel_noise,
                                        uniform_noise):
    """One pixel drawn from the mixture, as the official ``sample_from_discretized_mix_logistic``:
    a component by the Gumbel-max trick, a logistic draw per colour, each later colour's
    mean shifted by the earlier colours drawn, clipped to [-1, 1], rounded to the levels.

    The noise comes in (so the function is pure ``keras.ops`` and serves NumPy and a
    SavedModel alike).

    Args:
        params: ``(..., channels)`` of one pixel each.
        colours, num_mixtures: ``C`` and ``K``.
        gumbel_noise: ``(..., K)`` standard Gumbel draws.
        uniform_noise: ``(..., C)`` uniform draws in (1e-5, 1 - 1e-5).

    Returns:
        float levels 0..255, ``(..., C)``.
    """
    logit_probs, means, log_scales, coeffs = _mixture_params(params, colours, num_mixtures)
    pick = ops.one_hot(ops.argmax(ops.add(logit_probs, gumbel_noise), axis=-1), num_mixtures,
                       dtype=params.dtype)[..., None, :]  # (..., 1, K)
    means = ops.sum(ops.multiply(means, pick), axis=-1)  # (..., C)
    scales = ops.exp(ops.sum(ops.multiply(log_scales, pick), axis=-1))
    coeffs = ops.sum(ops.multiply(coeffs, pick), axis=-1)  # (..., P)
    u = ops.cast(uniform_noise, params.dtype)
    logistic = ops.subtract(ops.log(u), ops.log1p(ops.negative(u)))  # the inverse CDF
    draws = ops.add(means, ops.multiply(scales, logistic))
    values, pair = [], 0
    for c in range(colours):
        value = draws[..., c]
        for d in range(c):
            value = ops.add(value, ops.multiply(coeffs[..., pair], values[d]))
            pair += 1
        values.append(ops.clip(value, -1.0, 1.0))
    return ops.round(ops.multiply(ops.add(ops.stack(values, axis=-1), 1.0), 127.5))


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
        if output not in OUTPUTS[:2]:
            raise ValueError(f"Expected output in {OUTPUTS[:2]} (DiscretizedLogisticMixtureNLL "
                             f"is the logistic mixture's loss). Received: output={output!r}")
        super().__init__(name=name, **kwargs)
        self.output = output

    def call(self, y_true, y_pred):
        return image_nll(y_true, y_pred, self.output)

    def get_config(self):
        return {**super().get_config(), "output": self.output}


@keras.saving.register_keras_serializable(package="kerasseq")
class DiscretizedLogisticMixtureNLL(keras.losses.Loss):
    """PixelCNN++'s training loss: each image's negative log-likelihood in nats under the
    discretised logistic mixture (:func:`discretized_logistic_mixture_log_prob`, summed over
    the pixels), averaged over the batch. Bits per dimension = loss / (h·w·C·ln 2).

    Args:
        num_mixtures: ``K``, as the model's.
        name: the loss's name.

    Example:
    >>> loss = DiscretizedLogisticMixtureNLL(num_mixtures=5)
    >>> params = np.zeros((2, 4, 4, 50), "float32")
    >>> float(loss(np.full((2, 4, 4, 3), 128.0, "float32"), params)) > 0
    True

    References:
        Salimans, Karpathy, Chen and Kingma 2017, "PixelCNN++: Improving the PixelCNN with
        Discretized Logistic Mixture Likelihood and Other Modifications", ICLR, §2.1-2.2.
    """

    def __init__(self, num_mixtures=10, name="discretized_logistic_mixture_nll", **kwargs):
        if not isinstance(num_mixtures, int) or num_mixtures < 1:
            raise ValueError(f"Expected num_mixtures >= 1. Received: num_mixtures={num_mixtures!r}")
        super().__init__(name=name, **kwargs)
        self.num_mixtures = num_mixtures

    def call(self, y_true, y_pred):
        return discretized_logistic_mixture_nll(y_true, y_pred, self.num_mixtures)

    def get_config(self):
        return {**super().get_config(), "num_mixtures": self.num_mixtures}
