"""Pictures of forecasts: sample windows against the truth with the history shaded, errors by
horizon step with every model on one plot, and PatchTST's attention over patches."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasseq.plotting import _pyplot, save_figure

# The model first (drawn thick), then the baselines in muted colours.
_BASELINE_STYLE = {"last_value": dict(color="0.55", ls=":", lw=1.0),
                   "seasonal_naive": dict(color="tab:olive", ls="--", lw=0.8, alpha=0.8)}


def plot_forecasts(history, truth, forecasts: dict, columns, path, title: str = "",
                   max_channels: int = 3, history_steps: int = 0) -> Path:
    """A grid of sample windows (rows) by forecast channels (columns).

    Args:
        history: input windows ``(n, L, T)`` of the forecast channels (raw units).
        truth: the true futures ``(n, H, T)``.
        forecasts: ``{model name: (n, H, T)}``; baselines named ``last_value`` and
            ``seasonal_naive`` are drawn dashed.
        columns: the ``T`` channel names.
        path: PNG file to write.
        max_channels: draw at most this many channels (the last ones: the target is last).
        history_steps: draw this many observed steps (0: twice the horizon, at least 96).
    """
    plt = _pyplot()
    n, L, T = history.shape
    H = truth.shape[1]
    L = min(L, history_steps or max(2 * H, 96))
    history = history[:, -L:]
    shown = list(range(max(T - max_channels, 0), T))
    fig, axes = plt.subplots(n, len(shown), figsize=(4.2 * len(shown) + 1, 2.3 * n),
                             squeeze=False, sharex=True)
    past, future = np.arange(-L + 1, 1), np.arange(1, H + 1)
    for i in range(n):
        for j, ch in enumerate(shown):
            ax = axes[i, j]
            ax.axvspan(past[0], 0, color="0.93")
            ax.plot(past, history[i, :, ch], color="0.2", lw=0.9)
            ax.plot(future, truth[i, :, ch], color="black", lw=1.2, label="truth")
            for name, forecast in forecasts.items():
                style = _BASELINE_STYLE.get(name, dict(color="tab:red", lw=1.6))
                ax.plot(future, forecast[i, :, ch], label=name.replace("_", " "), **style)
            if i == 0:
                ax.set_title(str(columns[ch]))
            if i == n - 1:
                ax.set_xlabel("step (0: last observed)")
    axes[0, -1].legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_error_by_step(errors: dict, path, title: str = "", ylabel: str = "MSE (normalised)") -> Path:
    """Each model's error at every horizon step: ``errors = {model: (H,)}``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for name, values in errors.items():
        style = _BASELINE_STYLE.get(name, {})
        ax.plot(np.arange(1, len(values) + 1), values, label=name.replace("_", " "), **style)
    ax.set_xlabel("horizon step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


def plot_patch_attention(attention, path, patch_len: int, stride: int, channel_names=None,
                         max_channels: int = 4) -> Path:
    """PatchTST's last-layer attention for one window, averaged over heads, per channel.

    Args:
        attention: ``(1, channels, heads, patches, patches)`` (or without the batch axis).
        patch_len, stride: the patching, to label patches with the steps they start at.
        channel_names: the channels' names.
    """
    plt = _pyplot()
    attention = np.asarray(attention)
    if attention.ndim == 5:
        attention = attention[0]
    C = attention.shape[0]
    shown = list(range(max(C - max_channels, 0), C))
    fig, axes = plt.subplots(1, len(shown), figsize=(3.4 * len(shown) + 0.6, 3.4), squeeze=False)
    P = attention.shape[-1]
    maps = attention[shown].mean(axis=1)  # (channels shown, patches, patches)
    for k, ch in enumerate(shown):
        ax = axes[0, k]
        image = ax.imshow(maps[k], cmap="magma", vmin=0, vmax=float(maps.max()))  # one scale
        name = channel_names[ch] if channel_names is not None else ch
        ax.set_title(f"{name}", fontsize=9)
        ticks = np.linspace(0, P - 1, min(P, 5)).astype(int)
        ax.set_xticks(ticks, [str(t * stride) for t in ticks], fontsize=7)
        ax.set_yticks(ticks, [str(t * stride) for t in ticks], fontsize=7)
        ax.set_xlabel("key patch (first step)", fontsize=8)
    axes[0, 0].set_ylabel("query patch (first step)", fontsize=8)
    fig.colorbar(image, ax=axes[0, -1], fraction=0.046)
    fig.suptitle(f"PatchTST attention over patches of {patch_len} steps (mean over heads)", fontsize=10)
    return save_figure(fig, path)
