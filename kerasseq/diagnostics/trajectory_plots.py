"""Pictures of trajectory forecasts: a scene with observed, true and predicted tracks; the
predicted bivariate-Gaussian densities as a heat map over the scene; per-scene error bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasseq.plotting import _pyplot, save_figure

COLORS = ("tab:red", "tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:pink")


def _scene_limits(*tracks, margin: float = 1.0):
    points = np.concatenate([np.asarray(t, float).reshape(-1, 2) for t in tracks])
    points = points[np.all(np.isfinite(points), axis=1)]
    low, high = points.min(axis=0) - margin, points.max(axis=0) + margin
    centre, half = (low + high) / 2, (high - low).max() / 2
    return centre - half, centre + half


def _draw_tracks(ax, observed, truth, observed_present, scored, ink: str = "black"):
    for i in range(len(observed)):
        seen = observed_present[i]
        colour, width = (ink, 1.6) if scored[i] else ("0.6", 1.0)
        ax.plot(observed[i, seen, 0], observed[i, seen, 1], "-", color=colour, lw=width)
        if seen[-1]:
            ax.plot(observed[i, -1, 0], observed[i, -1, 1], "o", color=colour, ms=3)
        if scored[i]:
            ax.plot(np.r_[observed[i, -1, 0], truth[i, :, 0]], np.r_[observed[i, -1, 1], truth[i, :, 1]],
                    "--", color="tab:green", lw=1.4)


def plot_forecast_scene(observed, observed_present, truth, scored, forecasts: dict, path,
                        title: str = "", samples=None) -> Path:
    """One window: observed tracks (black; neighbours that are not scored in grey), the true
    futures (green, dashed) and every method's forecast of the scored pedestrians.

    Args:
        observed: ``(P, observed frames, 2)`` positions in metres.
        observed_present: bool ``(P, observed frames)``.
        truth: ``(P, predicted frames, 2)``.
        scored: bool ``(P,)``: pedestrians with a true future.
        forecasts: ``{method: (P, predicted frames, 2)}``.
        path: PNG file to write.
        samples: optional sampled futures ``(S, P, predicted frames, 2)``, drawn thin in the
            first method's colour.
    """
    plt = _pyplot()
    observed, truth = np.asarray(observed, float), np.asarray(truth, float)
    scored, observed_present = np.asarray(scored, bool), np.asarray(observed_present, bool)
    fig, ax = plt.subplots(figsize=(5.6, 5.2), layout="constrained")
    if samples is not None:
        for k, future in enumerate(np.asarray(samples, float)):
            for n, i in enumerate(np.flatnonzero(scored)):
                ax.plot(np.r_[observed[i, -1, 0], future[i, :, 0]],
                        np.r_[observed[i, -1, 1], future[i, :, 1]], "-", color=COLORS[0],
                        lw=0.5, alpha=0.3, label="samples" if k == 0 and n == 0 else None)
    _draw_tracks(ax, observed, truth, observed_present, scored)
    for colour, (name, future) in zip(COLORS, forecasts.items()):
        future = np.asarray(future, float)
        for n, i in enumerate(np.flatnonzero(scored)):
            ax.plot(np.r_[observed[i, -1, 0], future[i, :, 0]], np.r_[observed[i, -1, 1], future[i, :, 1]],
                    "-", color=colour, lw=1.3, alpha=0.9, label=name if n == 0 else None)
    ax.plot([], [], "-", color="black", label="observed (3.2 s)")
    ax.plot([], [], "--", color="tab:green", label="truth (4.8 s)")
    low, high = _scene_limits(observed[observed_present], truth[scored],
                              *[np.asarray(f, float)[scored] for f in forecasts.values()])
    ax.set_xlim(low[0], high[0]), ax.set_ylim(low[1], high[1])
    ax.set_aspect("equal"), ax.set_xlabel("x (m)"), ax.set_ylabel("y (m)")
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def gaussian_density(points, gaussians):
    """Bivariate Gaussian densities at ``points`` ``(..., 2)`` of each ``(μx, μy, σx, σy, ρ)`` of
    ``gaussians`` ``(G, 5)``: ``(..., G)``."""
    # float32: a picture, and half the memory traffic of float64 over a 200 × 200 grid.
    points = np.asarray(points, np.float32)[..., None, :]  # (..., 1, 2)
    g = np.asarray(gaussians, np.float32)
    dx = (points[..., 0] - g[:, 0]) / g[:, 2]
    dy = (points[..., 1] - g[:, 1]) / g[:, 3]
    rho = g[:, 4]
    z = (dx ** 2 + dy ** 2 - 2 * rho * dx * dy) / (1 - rho ** 2)
    return np.exp(-z / 2) / (2 * np.pi * g[:, 2] * g[:, 3] * np.sqrt(1 - rho ** 2))


def mixture_density_on_grid(xs, ys, gaussians, reach: float = 6.0):
    """The mean density of the bivariate Gaussians ``gaussians`` ``(G, 5)`` (``(μx, μy, σx, σy,
    ρ)``) on the grid ``xs`` × ``ys``: ``(len(ys), len(xs))``.

    Evaluated only inside the box where some component lies within ``reach`` of its marginal
    standard deviations; outside it, every component is below exp(−reach²/2) of its own peak
    (1.5e-8 of it at 6), so the mixture is below that fraction of its maximum. Far faster than
    the whole grid when the components are narrow against the scene, as most are.
    """
    xs, ys = np.asarray(xs, np.float32), np.asarray(ys, np.float32)
    g = np.asarray(gaussians, np.float32)
    out = np.zeros((len(ys), len(xs)), np.float32)
    x0, x1 = np.searchsorted(xs, [(g[:, 0] - reach * g[:, 2]).min(), (g[:, 0] + reach * g[:, 2]).max()])
    y0, y1 = np.searchsorted(ys, [(g[:, 1] - reach * g[:, 3]).min(), (g[:, 1] + reach * g[:, 3]).max()])
    if x0 < x1 and y0 < y1:
        grid = np.stack(np.meshgrid(xs[x0:x1], ys[y0:y1]), axis=-1)
        out[y0:y1, x0:x1] = gaussian_density(grid, g).mean(axis=-1)
    return out


def plot_predicted_density(observed, observed_present, truth, scored, gaussians, path,
                           title: str = "", resolution: int = 200) -> Path:
    """The model's predicted distribution of every future position of the scored pedestrians
    as a heat map over the scene, with the tracks on top.

    With ``gaussians`` of several sampled rollouts, the density of step ``k`` is the mixture
    of the rollouts' Gaussians at ``k`` (each given its own sampled past): the Monte-Carlo
    predictive distribution, which widens with the horizon. Each step's density is scaled to
    peak 1, so near and far steps show alike.

    Args:
        observed, observed_present, truth, scored: as :func:`plot_forecast_scene`.
        gaussians: ``(P, predicted frames, 5)`` or ``(samples, P, predicted frames, 5)``:
            ``(μx, μy, σx, σy, ρ)`` of each step.
        path: PNG file to write.
    """
    plt = _pyplot()
    observed, truth = np.asarray(observed, float), np.asarray(truth, float)
    scored, observed_present = np.asarray(scored, bool), np.asarray(observed_present, bool)
    g = np.asarray(gaussians, float)
    g = (g[None] if g.ndim == 3 else g)[:, scored]  # (samples, scored, K, 5)
    low, high = _scene_limits(observed[observed_present], truth[scored], g[..., :2])
    xs, ys = np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    heat = np.zeros((resolution, resolution))
    for i in range(g.shape[1]):
        for k in range(g.shape[2]):
            density = mixture_density_on_grid(xs, ys, g[:, i, k])  # mixture over samples
            heat = np.maximum(heat, density / max(density.max(), 1e-12))
    fig, ax = plt.subplots(figsize=(5.6, 5.2), layout="constrained")
    ax.imshow(heat, origin="lower", extent=(low[0], high[0], low[1], high[1]), cmap="magma",
              vmin=0, vmax=1, interpolation="bilinear")
    _draw_tracks(ax, observed, truth, observed_present, scored, ink="white")
    ax.set_xlim(low[0], high[0]), ax.set_ylim(low[1], high[1])
    ax.set_aspect("equal"), ax.set_xlabel("x (m)"), ax.set_ylabel("y (m)")
    ax.set_title(title or "predicted density of every future step", fontsize=9)
    return save_figure(fig, path)


def plot_scene_errors(errors: dict, path, title: str = "") -> Path:
    """Grouped bars of ADE and FDE per scene for every method.

    Args:
        errors: ``{method: {scene: (ade, fde)}}`` in metres.
        path: PNG file to write.
    """
    plt = _pyplot()
    methods = list(errors)
    scenes = list(next(iter(errors.values())))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    width = 0.8 / len(methods)
    x = np.arange(len(scenes))
    for ax, k, label in ((axes[0], 0, "ADE (m)"), (axes[1], 1, "FDE (m)")):
        for m, method in enumerate(methods):
            values = [errors[method][s][k] for s in scenes]
            ax.bar(x + (m - (len(methods) - 1) / 2) * width, values, width, label=method,
                   color=COLORS[m % len(COLORS)] if m < len(COLORS) else None)
        ax.set_xticks(x, scenes), ax.set_ylabel(label), ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
