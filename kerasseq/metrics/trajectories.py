"""Displacement errors of trajectory forecasts (ADE, FDE), deterministic and best-of-N."""

from __future__ import annotations

import numpy as np


def displacement_errors(predicted, truth):
    """Average and final displacement error of each track.

    ADE: the Euclidean distance between predicted and true positions averaged over the
    predicted frames; FDE: the distance at the last frame (Alahi et al. 2016, Gupta et al.
    2018).

    Args:
        predicted: ``(..., tracks, frames, 2)`` positions; leading axes (e.g. samples) broadcast.
        truth: ``(tracks, frames, 2)`` true positions.

    Returns:
        ``(ade, fde)``, each float64 ``(..., tracks)``.

    Example:
    >>> ade, fde = displacement_errors(forecast, future)  # (n, 12, 2), (n, 12, 2) -> (n,), (n,)
    """
    predicted, truth = np.asarray(predicted, np.float64), np.asarray(truth, np.float64)
    if predicted.shape[-3:] != truth.shape or truth.ndim != 3 or truth.shape[-1] != 2:
        raise ValueError(f"Expected predicted (..., tracks, frames, 2) and truth (tracks, frames, "
                         f"2) of the same tracks and frames. Received: {predicted.shape}, "
                         f"{truth.shape}")
    distance = np.linalg.norm(predicted - truth, axis=-1)  # (..., tracks, frames)
    return distance.mean(axis=-1), distance[..., -1]


def best_of(samples, truth):
    """Best-of-N errors (Gupta et al. 2018): for each track, the smallest ADE and the smallest
    FDE over the N sampled futures (each minimised on its own).

    Args:
        samples: ``(N, tracks, frames, 2)``.
        truth: ``(tracks, frames, 2)``.

    Returns:
        ``(ade, fde)``, each float64 ``(tracks,)``.
    """
    ade, fde = displacement_errors(samples, truth)
    return ade.min(axis=0), fde.min(axis=0)
