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
    # Validation-only measures (a validation BLEU or F1) get a panel of their own.
    names += [k for k in history if k.startswith("val_") and k[4:] not in history]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = range(1, len(history[name]) + 1)
        if steps and name == "loss" and steps.get("step"):
            per_epoch = steps["steps_per_epoch"]
            ax.plot([s / per_epoch for s in steps["step"]], steps["loss"], color="C0",
                    alpha=0.3, lw=0.8, label="train (batches)")
        if not name.startswith("val_"):
            ax.plot(epochs, history[name], "o-", color="C0", label="train")
        validation = name if name.startswith("val_") else f"val_{name}"
        if validation in history:
            ax.plot(epochs, history[validation], "s-", color="C1", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)



def plot_alignment(weights, source_tokens: list[str], target_tokens: list[str], path,
                   title: str = "") -> Path:
    """The attention-alignment heat map of one translation (Bahdanau et al. 2015, fig. 3):
    ``weights`` ``(len(target_tokens), len(source_tokens))``, row i the attention over the
    source words while target word i was produced; darker is more weight."""
    import numpy as np

    plt = _pyplot()
    weights = np.asarray(weights)
    if weights.shape != (len(target_tokens), len(source_tokens)):
        raise ValueError(f"Expected weights of shape ({len(target_tokens)}, {len(source_tokens)}). "
                         f"Received: {weights.shape}")
    fig, ax = plt.subplots(figsize=(1.0 + 0.42 * len(source_tokens), 1.2 + 0.36 * len(target_tokens)))
    ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=max(float(weights.max()), 1e-6), aspect="auto")
    ax.set_xticks(range(len(source_tokens)), source_tokens, rotation=60, ha="right")
    ax.set_yticks(range(len(target_tokens)), target_tokens)
    ax.set_xlabel("source (English subwords)")
    ax.set_ylabel("translation (German subwords)")
    if title:
        ax.set_title(title if len(title) <= 70 else title[:67] + "...", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_confusion_matrix(labels, predictions, class_names, path, title: str = "") -> Path:
    """Row-normalised confusion matrix (true class per row, predicted per column), with the
    per-class recall on the diagonal written in each cell."""
    import numpy as np

    plt = _pyplot()
    n = len(class_names)
    counts = np.zeros((n, n), np.int64)
    np.add.at(counts, (np.asarray(labels), np.asarray(predictions)), 1)
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.6 + 0.5 * n))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                ax.text(j, i, f"{rates[i, j]:.2f}" if i == j else str(counts[i, j]), ha="center",
                        va="center", fontsize=7, color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"{title}\naccuracy {accuracy:.4f} (diagonal: recall; off: counts)".strip(),
                 fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_misclassified(images, labels, probabilities, class_names, path, count: int = 16) -> Path:
    """The ``count`` test images the model got wrong most confidently, each titled with its
    prediction (and probability) and true class."""
    import numpy as np

    plt = _pyplot()
    predicted = probabilities.argmax(-1)
    wrong = np.flatnonzero(predicted != np.asarray(labels))
    worst = wrong[np.argsort(-probabilities[wrong, predicted[wrong]])][:count]
    columns = 8
    rows = max(1, -(-len(worst) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.5, rows * 1.8), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, worst):
        image = images[i]
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image,
                  cmap="gray" if image.shape[-1] == 1 else None)
        ax.set_title(f"{class_names[predicted[i]]} {probabilities[i, predicted[i]]:.2f}\n"
                     f"true: {class_names[labels[i]]}", fontsize=7)
    fig.suptitle("most confident mistakes (prediction, probability / true class)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
