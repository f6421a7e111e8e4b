"""The bivariate Gaussian of Social LSTM (Alahi et al. 2016) and of Graves' handwriting model:
each next position predicted as (μx, μy, σx, σy, ρ), trained by its negative log-likelihood
and sampled to generate trajectories (backend-agnostic)."""

from __future__ import annotations

import math

import keras
from keras import ops

# σ is clamped to [MIN_SIGMA, MAX_SIGMA] and |ρ| to MAX_RHO: the log-density then stays
# finite (and its gradient bounded by 1/MIN_SIGMA² and 1/(1 − MAX_RHO²)) for any raw output.
MIN_SIGMA = 1e-3
MAX_SIGMA = 1e4
MAX_RHO = 1.0 - 1e-5
_LOG_2PI = math.log(2.0 * math.pi)


def _split(params):
    params = ops.cast(params, "float32")
    if params.shape[-1] is not None and params.shape[-1] != 5:
        raise ValueError(f"Expected params (..., 5): μx, μy, log σx, log σy, raw ρ. Received: "
                         f"params.shape={tuple(params.shape)}")
    mu = params[..., 0:2]  # (..., 2)
    log_sigma = ops.clip(params[..., 2:4], math.log(MIN_SIGMA), math.log(MAX_SIGMA))  # (..., 2)
    rho = ops.clip(ops.tanh(params[..., 4]), -MAX_RHO, MAX_RHO)  # (...)
    return mu, log_sigma, rho


def bivariate_gaussian_params(params):
    """The distribution a raw 5-vector stands for: ``μ = (p₀, p₁)``, ``σ = exp(p₂, p₃)``,
    ``ρ = tanh(p₄)``, clamped to ``MIN_SIGMA ≤ σ ≤ MAX_SIGMA`` and ``|ρ| ≤ MAX_RHO``.

    Args:
        params: float ``(..., 5)``: raw outputs ``(μx, μy, log σx, log σy, ρ before tanh)``.

    Returns:
        float32 ``(mu, sigma, rho)``: ``(..., 2)``, ``(..., 2)`` and ``(...)``.

    Example:
    >>> mu, sigma, rho = bivariate_gaussian_params(np.array([1.0, 2.0, 0.0, math.log(3.0), 0.0]))
    >>> # mu = [1, 2], sigma = [1, 3], rho = 0
    """
    mu, log_sigma, rho = _split(params)
    return mu, ops.exp(log_sigma), rho


def bivariate_gaussian_nll(y_true, params, mask=None):
    """``−log N((x, y) | μ, Σ)`` of each position under the bivariate Gaussian of ``params``.

    With ``dx = (x − μx)/σx``, ``dy = (y − μy)/σy`` and ``Z = dx² + dy² − 2ρ·dx·dy``:
    ``−log N = log 2π + log σx + log σy + ½ log(1 − ρ²) + Z / (2(1 − ρ²))``, computed in
    float32 directly from ``log σ`` (never through the density, which underflows), with σ and ρ
    clamped as in :func:`bivariate_gaussian_params`. Alahi et al.'s eq. 5 summed over a
    trajectory; Graves' eqs. 24-26 for one mixture component.

    Args:
        y_true: float ``(..., 2)``: the observed ``(x, y)`` (positions or offsets, as the
            model predicts).
        params: float ``(..., 5)``: raw ``(μx, μy, log σx, log σy, ρ before tanh)``.
        mask: optional bool or 0/1 ``(...)``: 0 zeroes the NLL of that position.

    Returns:
        float32 ``(...)``: the NLL of each position (0 where ``mask`` is 0).

    Example:
    >>> bivariate_gaussian_nll(np.zeros((1, 2)), np.zeros((1, 5)))  # log 2π ≈ [1.8379]

    References:
        Alahi et al. 2016, "Social LSTM: human trajectory prediction in crowded spaces", CVPR
        (section 3.1, eqs. 4-5); Graves 2013, "Generating sequences with recurrent neural
        networks" (section 4.1, eqs. 18-26).
    """
    mu, log_sigma, rho = _split(params)
    y_true = ops.cast(y_true, "float32")[..., 0:2]
    d = (y_true - mu) * ops.exp(-log_sigma)  # (..., 2): (dx, dy)
    dx, dy = d[..., 0], d[..., 1]
    one_minus = (1.0 - rho) * (1.0 + rho)  # 1 − ρ², without cancellation near |ρ| = 1
    z = ops.square(dx) + ops.square(dy) - 2.0 * rho * dx * dy  # (...)
    nll = (_LOG_2PI + ops.sum(log_sigma, axis=-1) + 0.5 * ops.log(one_minus)
           + z / (2.0 * one_minus))
    if mask is not None:
        nll = ops.where(ops.cast(mask, "bool"), nll, 0.0)
    return nll


def sample_bivariate_gaussian(params, seed=None, noise=None):
    """One draw per position from the bivariate Gaussian of ``params``, reparameterised with
    the Cholesky factor of Σ: ``x = μx + σx ε₁``, ``y = μy + σy (ρ ε₁ + √(1 − ρ²) ε₂)``,
    ``ε ~ N(0, I)`` (differentiable in ``params``).

    Args:
        params: float ``(..., 5)``: raw ``(μx, μy, log σx, log σy, ρ before tanh)``.
        seed: an int or a ``keras.random.SeedGenerator`` (needed inside a compiled function
            on JAX; ``None`` draws from the global generator, eager only).
        noise: optional float ``(..., 2)`` standard normals ``ε`` to use instead of drawing
            (a sampling loop that draws its noise up front, as a compiled loop on JAX needs).

    Returns:
        float32 ``(..., 2)``: sampled ``(x, y)``.

    Example:
    >>> generator = keras.random.SeedGenerator(0)
    >>> next_position = sample_bivariate_gaussian(model(history)[:, -1], seed=generator)
    """
    mu, sigma, rho = bivariate_gaussian_params(params)
    if noise is None:
        eps = keras.random.normal(ops.shape(mu), seed=seed, dtype="float32")  # (..., 2)
    else:
        eps = ops.cast(noise, "float32")
    e1, e2 = eps[..., 0], eps[..., 1]
    x = mu[..., 0] + sigma[..., 0] * e1
    y = mu[..., 1] + sigma[..., 1] * (rho * e1 + ops.sqrt((1.0 - rho) * (1.0 + rho)) * e2)
    return ops.stack([x, y], axis=-1)


@keras.saving.register_keras_serializable(package="kerasseq")
class BivariateGaussianNLL(keras.losses.Loss):
    """Negative log-likelihood of the observed positions under the predicted bivariate
    Gaussians, averaged over the valid positions (:func:`bivariate_gaussian_nll`).

    ``y_pred``: ``(..., 5)`` raw ``(μx, μy, log σx, log σy, ρ before tanh)``, e.g.
    ``(batch, time, pedestrians, 5)`` from a linear layer. ``y_true``: ``(..., 2)`` positions,
    or ``(..., 3)`` with a validity channel ``(x, y, valid)``, ``valid`` 1 for a real
    observation and 0 for padding (missing steps, absent or padded pedestrians). Padded
    positions may hold anything, NaN included. With the ``"sum_over_batch_size"`` (default)
    or ``"mean"`` reduction the loss is the mean over the valid positions only, exactly as
    Keras averages a masked loss (a batch without any valid position gives 0); ``"sum"`` sums
    over the valid positions; ``sample_weight`` multiplies as usual.

    Args:
        name / reduction / dtype: as ``keras.losses.Loss``.

    Example:
    >>> model.compile("adam", BivariateGaussianNLL())
    >>> model.fit(history, np.concatenate([future, valid[..., None]], -1))

    References:
        Alahi et al. 2016, "Social LSTM: human trajectory prediction in crowded spaces", CVPR
        (section 3.1, eq. 5).
    """

    def __init__(self, name="bivariate_gaussian_nll", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        channels = y_true.shape[-1]
        if channels not in (2, 3):
            raise ValueError(f"Expected y_true (..., 2) positions or (..., 3) positions and "
                             f"validity. Received: y_true.shape={tuple(y_true.shape)}")
        if channels == 2:
            return bivariate_gaussian_nll(y_true, y_pred)
        valid = y_true[..., 2] > 0.5  # (...)
        nll = bivariate_gaussian_nll(ops.where(valid[..., None], y_true[..., :2], 0.0), y_pred, valid)
        if self.reduction in ("sum_over_batch_size", "mean"):
            # Keras divides by the number of positions; weigh the valid ones by total / valid
            # so the result is their mean (keras.losses.Loss does the same for masks).
            total = ops.cast(ops.size(nll), "float32")
            count = ops.sum(ops.cast(valid, "float32"))
            nll = nll * ops.divide_no_nan(total, count)
        return nll
