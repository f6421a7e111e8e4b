"""Plots written by the runner and tasks (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi: int = 110) -> Path:
    """Write ``fig`` to the PNG ``path`` (creating its folder) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)
    return path


def plot_history(history: dict, path: Path, title: str = "", steps: dict | None = None) -> Path:
    """Loss (and other metrics) per epoch, training next to validation.

    Args:
        history: ``{"loss": [...], "val_loss": [...], ...}`` per epoch.
        path: PNG file to write.
        title: figure title.
        steps: optional ``{"step": [...], "loss": [...]}`` of per-batch training loss, drawn
            faintly behind the per-epoch curves (x axis in epochs).
    """
    plt = _pyplot()
    names = [k for k in history if not k.startswith("val_") and f"val_{k}" in history]
    names = names or [k for k in history if not k.startswith("val_")]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = range(1, len(history[name]) + 1)
        if steps and name == "loss" and steps.get("step"):
            per_epoch = steps["steps_per_epoch"]
            ax.plot([s / per_epoch for s in steps["step"]], steps["loss"], color="C0",
                    alpha=0.3, lw=0.8, label="train (batches)")
        ax.plot(epochs, history[name], "o-", color="C0", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], "s-", color="C1", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)

