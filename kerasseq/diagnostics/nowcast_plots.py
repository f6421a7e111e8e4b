"""Pictures of nowcasts: frame strips (observed, truth and every model's forecast), animated
GIFs of the same, and scores against lead time with every model on one plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasseq.plotting import _pyplot, save_figure


LOG_FLOOR = 0.1  # mm/h: rain below it is drawn as dry (white) on the log colour scale


def _scaled(frame, vmax: float, log: bool) -> np.ndarray:
    """Frame values to [0, 1] colour positions: linear, or log10 between LOG_FLOOR and vmax
    (NaN below the floor: drawn white)."""
    frame = np.asarray(frame, float)
    if not log:
        return np.clip(frame / vmax, 0, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = (np.log10(frame) - np.log10(LOG_FLOOR)) / (np.log10(vmax) - np.log10(LOG_FLOOR))
    return np.where(frame >= LOG_FLOOR, np.clip(x, 0, 1), np.nan)


def plot_frame_strips(inputs, truth, forecasts: dict, path, title: str = "", cmap: str = "gray",
                      vmax: float = 1.0, minutes_per_frame: float | None = None,
                      max_columns: int = 12, log: bool = False) -> Path:
    """One row of observed frames, one of the true future and one per model.

    Args:
        inputs: observed frames ``(J, H, W)``.
        truth: future frames ``(K, H, W)``.
        forecasts: ``{model name: (K, H, W)}``.
        path: PNG file to write.
        cmap, vmax: colour map and top of its range (rain: e.g. "viridis", 20 mm/h).
        minutes_per_frame: label columns with lead times in minutes instead of frame numbers.
        max_columns: show at most this many frames per row (evenly spaced, last one kept).
        log: a logarithmic colour scale from 0.1 to ``vmax`` with dry pixels white (rain).
    """
    plt = _pyplot()
    inputs, truth = np.asarray(inputs), np.asarray(truth)
    rows = [("observed", inputs)] + [("truth", truth)] + [(k, np.asarray(v)) for k, v in forecasts.items()]
    columns = min(max(len(inputs), len(truth)), max_columns)
    fig, axes = plt.subplots(len(rows), columns, figsize=(1.1 * columns + 1.2, 1.2 * len(rows) + 0.4),
                             squeeze=False, layout="constrained")
    image = None
    for r, (name, frames) in enumerate(rows):
        chosen = np.unique(np.linspace(0, len(frames) - 1, min(columns, len(frames))).round().astype(int))
        for c in range(columns):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if c >= len(chosen):
                ax.axis("off")
                continue
            t = chosen[c]
            image = ax.imshow(_scaled(frames[t], vmax, log), cmap=cmap, vmin=0, vmax=1)
            if r == 0:
                back = len(frames) - 1 - t
                ax.set_title("now" if back == 0 else f"t−{back}" if minutes_per_frame is None
                             else f"−{back * minutes_per_frame:g} min", fontsize=7)
            elif r == 1 or name != "truth":
                if r == 1:
                    ax.set_title(f"+{t + 1}" if minutes_per_frame is None
                                 else f"+{(t + 1) * minutes_per_frame:g} min", fontsize=7)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    if image is not None and log:
        bar = fig.colorbar(image, ax=axes, shrink=0.6, label="mm/h")
        ticks = [v for v in (0.1, 0.5, 2, 5, 10, 20, 50, 100) if v <= vmax]
        bar.set_ticks([float(_scaled(np.array(v), vmax, True)) for v in ticks], labels=[f"{v:g}" for v in ticks])
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def _to_rgb(frame, cmap, vmax: float, scale: int, log: bool) -> np.ndarray:
    plt = _pyplot()
    position = _scaled(frame, vmax, log)
    rgba = plt.get_cmap(cmap)(np.nan_to_num(position, nan=0.0))
    rgba[np.isnan(position)] = 1.0  # dry: white
    rgb = (rgba[..., :3] * 255).astype(np.uint8)
    return np.kron(rgb, np.ones((scale, scale, 1), np.uint8))


def write_forecast_gif(inputs, truth, forecasts: dict, path, cmap: str = "gray",
                       vmax: float = 1.0, scale: int = 2, milliseconds: int = 250,
                       log: bool = False) -> Path:
    """An animated GIF: panels "truth" and one per model side by side, looping over the J
    observed frames (every panel shows the observation, with a white bar on top) and then the K
    forecast frames (a red bar).

    Args:
        inputs: ``(J, H, W)``; truth: ``(K, H, W)``; forecasts: ``{name: (K, H, W)}``.
        path: the ``.gif`` file to write (panel order: truth, then ``forecasts`` in order,
            named in the GIF's comment).
        scale: pixel magnification.
        milliseconds: duration of each frame.
        log: the logarithmic rain colour scale of :func:`plot_frame_strips`.
    """
    from PIL import Image

    inputs, truth = np.asarray(inputs), np.asarray(truth)
    panels = [truth] + [np.asarray(v) for v in forecasts.values()]
    gap = np.full((inputs.shape[1] * scale + 4, 3, 3), 255, np.uint8)
    images = []
    for t in range(len(inputs) + len(truth)):
        observed = t < len(inputs)
        tiles = []
        for frames in panels:
            tile = _to_rgb(inputs[t] if observed else frames[t - len(inputs)], cmap, vmax, scale, log)
            bar = np.zeros((4, tile.shape[1], 3), np.uint8)
            bar[:] = (255, 255, 255) if observed else (220, 30, 30)
            tiles += [np.concatenate([bar, tile]), gap]
        images.append(Image.fromarray(np.concatenate(tiles[:-1], axis=1)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=milliseconds, loop=0,
                   comment=("panels: truth, " + ", ".join(forecasts)).encode())
    return path


def plot_lead_time_curves(scores: dict, metrics, path, minutes_per_frame: float | None = None,
                          title: str = "", labels: dict | None = None) -> Path:
    """Scores against lead time, every model on each panel.

    Args:
        scores: ``{model: {metric: (K,) per lead}}``.
        metrics: the metric names to draw, one panel each (missing ones are skipped).
        path: PNG file to write.
        minutes_per_frame: x axis in minutes (radar) instead of frames.
        labels: optional axis labels per metric.
    """
    plt = _pyplot()
    metrics = [m for m in metrics if any(m in s for s in scores.values())]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for model, values in scores.items():
            if metric in values:
                y = np.asarray(values[metric], float)
                x = np.arange(1, len(y) + 1) * (minutes_per_frame or 1)
                ax.plot(x, y, marker="o", markersize=3, label=model)
        ax.set_xlabel("lead time (min)" if minutes_per_frame else "lead time (frames)")
        ax.set_ylabel((labels or {}).get(metric, metric))
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
