"""Pictures of handwriting prediction and synthesis (Graves 2013, sections 4 and 5): pen
strokes with their pen lifts (PNG, or SVG for one line), the predicted density of the next
pen position along a line (Figure 10), a primed sample and the soft window's weights over the
text (Figure 13)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasseq.plotting import _pyplot, save_figure


def stroke_segments(points: np.ndarray) -> list[np.ndarray]:
    """Pen-down segments ``(k, 2)`` (y down, as recorded) of rows ``(dx, dy, end_of_stroke)``
    whose first row starts at the origin: the pen lifts after every row with the bit set."""
    points = np.asarray(points, np.float64)
    xy = np.cumsum(points[:, :2], axis=0)
    ends = np.flatnonzero(points[:, 2] > 0.5) + 1
    return [s for s in np.split(xy, ends) if len(s)]


def _draw(ax, points, colour="black", width=1.2):
    for segment in stroke_segments(points):
        ax.plot(segment[:, 0], segment[:, 1], "-", color=colour, lw=width, solid_capstyle="round")
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.axis("off")


def plot_samples(samples: dict, path: Path, title: str = "") -> Path:
    """Rows of sampled handwriting, one row per bias: ``samples = {bias: [points (n, 3) raw
    offsets, ...]}``."""
    plt = _pyplot()
    rows = sum(len(v) for v in samples.values())
    fig, axes = plt.subplots(rows, 1, figsize=(10, 1.3 * rows + 0.4), squeeze=False)
    k = 0
    for bias, drawn in samples.items():
        for j, points in enumerate(drawn):
            ax = axes[k, 0]
            _draw(ax, points)
            ax.set_title(f"bias {bias:g}, sample {j + 1}", fontsize=8, loc="left")
            k += 1
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def mixture_density_grid(origins, pi, mu, sigma, rho, cell: float, low, shape, radius: int = 40):
    """The summed densities of the next pen position over a raster: at step ``t`` the mixture
    ``Σⱼ πⱼ N(· | origins_t + μⱼ, σⱼ, ρⱼ)``, added within ``radius`` cells of its mean.

    Args:
        origins: ``(T, 2)`` pen position before each predicted point.
        pi, rho: ``(T, M)``; mu, sigma: ``(T, M, 2)``, in the units of ``origins``.
        cell: raster cell size; low: ``(2,)`` position of cell ``(0, 0)``'s centre;
        shape: ``(rows, columns)`` = ``(y cells, x cells)``.
        radius: cells each side of the step's mean position that receive its density.

    Returns:
        float64 ``(rows, columns)`` densities (per unit area).
    """
    grid = np.zeros(shape, np.float64)
    rows, cols = shape
    for t in range(len(origins)):
        centre = origins[t] + (pi[t, :, None] * mu[t]).sum(0)
        cx, cy = np.round((centre - low) / cell).astype(int)
        x0, x1 = max(cx - radius, 0), min(cx + radius + 1, cols)
        y0, y1 = max(cy - radius, 0), min(cy + radius + 1, rows)
        if x0 >= x1 or y0 >= y1:
            continue
        gx = low[0] + cell * np.arange(x0, x1)
        gy = low[1] + cell * np.arange(y0, y1)
        dx = (gx[None, :, None] - origins[t, 0] - mu[t, :, 0]) / sigma[t, :, 0]  # (1, x, M)
        dy = (gy[:, None, None] - origins[t, 1] - mu[t, :, 1]) / sigma[t, :, 1]  # (y, 1, M)
        one_minus = 1.0 - rho[t] ** 2
        z = dx ** 2 + dy ** 2 - 2 * rho[t] * dx * dy
        density = np.exp(-z / (2 * one_minus)) / (2 * np.pi * sigma[t, :, 0] * sigma[t, :, 1]
                                                  * np.sqrt(one_minus))
        grid[y0:y1, x0:x1] += (density * pi[t]).sum(-1)
    return grid


def plot_density_heatmap(points, pi, mu, sigma, rho, path: Path, title: str = "",
                         columns: int = 600) -> Path:
    """Graves' Figure 10: a real line (raw offsets ``points (n, 3)``) under the heat map of the
    densities its model predicted for every next pen position (``pi, rho (n−1, M)``,
    ``mu, sigma (n−1, M, 2)`` in raw units, for points ``1 .. n−1``)."""
    plt = _pyplot()
    points = np.asarray(points, np.float64)
    xy = np.cumsum(points[:, :2], axis=0)
    margin = 0.05 * np.ptp(xy[:, 0]) + 10
    low, high = xy.min(0) - margin, xy.max(0) + margin
    cell = (high[0] - low[0]) / columns
    shape = (int(np.ceil((high[1] - low[1]) / cell)) + 1, columns + 1)
    grid = mixture_density_grid(xy[:-1], pi, mu, sigma, rho, cell, low, shape)
    fig, axes = plt.subplots(2, 1, figsize=(10, 2 * 10 * shape[0] / shape[1] + 1.0))
    extent = (low[0] - cell / 2, low[0] + cell * (shape[1] - 0.5),
              low[1] + cell * (shape[0] - 0.5), low[1] - cell / 2)
    axes[0].imshow(np.sqrt(grid), cmap="inferno", extent=extent, interpolation="bilinear")
    axes[0].set_title("density of the next pen position (square root)", fontsize=8, loc="left")
    axes[0].axis("off")
    _draw(axes[1], points)
    axes[1].set_title("the test line", fontsize=8, loc="left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def write_line(points, path: Path, stroke_width: float = 2.0) -> Path:
    """One line of raw offsets ``points (n, 3)`` (from the origin) as an SVG (a polyline per
    pen-down segment: the pen lifts after every row with the end-of-stroke bit) or, for a
    ``.png`` path, a PNG picture; any other suffix is a ValueError."""
    path = Path(path)
    if path.suffix.lower() == ".png":
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(10, 1.6))
        _draw(ax, points)
        fig.tight_layout()
        return save_figure(fig, path)
    if path.suffix.lower() != ".svg":
        raise ValueError(f"Expected an output path ending in .svg or .png. Received: path={path}")
    segments = stroke_segments(points)
    xy = np.concatenate(segments) if segments else np.zeros((1, 2))
    margin = 10.0
    low, high = xy.min(0) - margin, xy.max(0) + margin
    width, height = high - low
    lines = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.1f} {height:.1f}" '
             f'width="{width:.0f}" height="{height:.0f}">',
             f'<rect width="100%" height="100%" fill="white"/>']
    for segment in segments:
        coordinates = " ".join(f"{x - low[0]:.1f},{y - low[1]:.1f}" for x, y in segment)
        lines.append(f'<polyline points="{coordinates}" fill="none" stroke="black" '
                     f'stroke-width="{stroke_width:g}" stroke-linecap="round" stroke-linejoin="round"/>')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines + ["</svg>", ""]))
    return path


def plot_primed(prime, written, path: Path, title: str = "") -> Path:
    """A primed sample (Graves section 5.5): the real priming line ``prime (p, 3)`` (grey) and
    the written continuation ``written (n, 3)`` (black), raw offsets, the continuation starting
    where the priming line ends."""
    plt = _pyplot()
    prime, written = np.asarray(prime, np.float64), np.asarray(written, np.float64)
    fig, axes = plt.subplots(2, 1, figsize=(10, 3.2))
    _draw(axes[0], prime, colour="0.5")
    axes[0].set_title("priming line (real, test set)", fontsize=8, loc="left")
    _draw(axes[1], written)
    axes[1].set_title("written after priming", fontsize=8, loc="left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_window_weights(phi, text: str, points, path: Path, title: str = "") -> Path:
    """Graves' Figure 13: the window weights ``φ(t, u)`` ``(T, U)`` of a written line, one row
    per character of ``text``, one column per pen point, above the line ``points (T + 1, 3)``
    (raw offsets)."""
    plt = _pyplot()
    phi = np.asarray(phi, np.float64)
    fig, axes = plt.subplots(2, 1, figsize=(10, 2.5 + 0.12 * len(text)),
                             gridspec_kw={"height_ratios": [max(len(text), 4) * 0.12 + 1, 1.2]})
    axes[0].imshow(phi.T, aspect="auto", cmap="Greys", interpolation="nearest", origin="upper")
    axes[0].set_yticks(range(len(text)))
    axes[0].set_yticklabels([ch if ch != " " else "␣" for ch in text], fontsize=6)
    axes[0].set_xlabel("pen point t", fontsize=8)
    axes[0].set_title("window weights φ(t, u)", fontsize=8, loc="left")
    _draw(axes[1], points)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
