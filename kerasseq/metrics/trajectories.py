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


def best_of(samples, truth, windows=None):
    """Best-of-N errors: ADE and FDE each minimised on its own over the N sampled futures.

    With ``windows`` (the window of each track), Social GAN's protocol (Gupta et al. 2018,
    ``evaluate_model.py``): in each window, the sample whose errors summed over the window's
    pedestrians are smallest; every track of the window gets that sample's error, so the mean
    over tracks is Social GAN's figure. Without it, each track's own best sample (a looser
    measure that many later papers report).

    Args:
        samples: ``(N, tracks, frames, 2)``.
        truth: ``(tracks, frames, 2)``.
        windows: optional int ``(tracks,)``: the window each track belongs to.

    Returns:
        ``(ade, fde)``, each float64 ``(tracks,)``.
    """
    ade, fde = displacement_errors(samples, truth)  # (N, tracks)
    if windows is None:
        return ade.min(axis=0), fde.min(axis=0)
    windows = np.unique(np.asarray(windows), return_inverse=True)[1]
    out = []
    for error in (ade, fde):
        sums = np.zeros((error.shape[0], windows.max() + 1 if windows.size else 0))
        np.add.at(sums.T, windows, error.T)  # (N, windows): each window's summed error
        chosen = sums.argmin(axis=0)  # (windows,)
        out.append(error[chosen[windows], np.arange(error.shape[1])])
    return tuple(out)
