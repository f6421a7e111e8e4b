"""The trajectory baselines the literature measures against, in NumPy: the least-squares line
(Social GAN's "Linear"), constant velocity and its sampled variant (Schöller et al. 2020)."""

from __future__ import annotations

import numpy as np


def _check(observed: np.ndarray, steps: int) -> np.ndarray:
    observed = np.asarray(observed, np.float64)
    if observed.ndim < 2 or observed.shape[-1] != 2 or observed.shape[-2] < 2 or steps < 1:
        raise ValueError(f"Expected observed positions (..., frames >= 2, 2) and steps >= 1. "
                         f"Received: observed.shape={observed.shape}, steps={steps}")
    return observed


def linear_extrapolation(observed, steps: int = 12) -> np.ndarray:
    """Fit ``x(t) = a + b t`` (and ``y``) to the observed frames by least squares and extend it.

    Args:
        observed: ``(..., frames, 2)`` positions.
        steps: frames to predict.

    Returns:
        float64 ``(..., steps, 2)``.

    Example:
    >>> linear_extrapolation(np.array([[0.0, 0.0], [1.0, 0.5], [2.0, 1.0]]), 2)
    array([[3. , 1.5], [4. , 2. ]])
    """
    observed = _check(observed, steps)
    frames = observed.shape[-2]
    t = np.arange(frames, dtype=np.float64)
    design = np.stack([np.ones(frames), t], axis=1)  # (frames, 2)
    solve = np.linalg.pinv(design)  # (2, frames): least squares for every track at once
    coef = np.einsum("kf,...fc->...kc", solve, observed)  # (..., 2 [a, b], 2 [x, y])
    future = frames - 1 + np.arange(1, steps + 1, dtype=np.float64)
    return coef[..., None, 0, :] + future[:, None] * coef[..., None, 1, :]


def constant_velocity(observed, steps: int = 12) -> np.ndarray:
    """Carry the last observed velocity forward: ``xₖ = x_last + k (x_last − x_prev)``.

    Args:
        observed: ``(..., frames, 2)`` positions.
        steps: frames to predict.

    Returns:
        float64 ``(..., steps, 2)``.

    References:
        Schöller, Aravantinos, Lay and Knoll 2020, "What the constant velocity model can teach
        us about pedestrian motion prediction", IEEE RA-L.
    """
    observed = _check(observed, steps)
    velocity = observed[..., -1, :] - observed[..., -2, :]
    return observed[..., -1:, :] + np.arange(1, steps + 1)[:, None] * velocity[..., None, :]


def sampled_constant_velocity(observed, steps: int = 12, samples: int = 20,
                              angle_std_degrees: float = 25.0, rng=None) -> np.ndarray:
    """Schöller et al.'s sampling constant-velocity model: the last velocity rotated by an angle
    drawn from ``N(0, σ²)`` (one angle per sample and track), then carried forward.

    Args:
        observed: ``(..., frames, 2)`` positions.
        steps: frames to predict.
        samples: futures per track (20 for best-of-20).
        angle_std_degrees: σ of the angle (Schöller et al.: 25°).
        rng: ``numpy.random.Generator`` (default: seeded with 0).

    Returns:
        float64 ``(samples, ..., steps, 2)``.
    """
    observed = _check(observed, steps)
    rng = rng if rng is not None else np.random.default_rng(0)
    velocity = observed[..., -1, :] - observed[..., -2, :]  # (..., 2)
    angle = np.deg2rad(angle_std_degrees) * rng.standard_normal((samples, *velocity.shape[:-1]))
    cos, sin = np.cos(angle), np.sin(angle)
    rotated = np.stack([cos * velocity[..., 0] - sin * velocity[..., 1],
                        sin * velocity[..., 0] + cos * velocity[..., 1]], axis=-1)  # (S, ..., 2)
    return observed[..., -1:, :] + np.arange(1, steps + 1)[:, None] * rotated[..., None, :]
