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


def _display_image(image):
    """``image`` ``(H, W, C)`` scaled to [0, 1] for ``imshow`` (grey when one channel)."""
    import numpy as np

    image = np.asarray(image, "float32")
    low, high = float(image.min()), float(image.max())
    image = (image - low) / max(high - low, 1e-6)
    return image[..., 0] if image.shape[-1] == 1 else image


def plot_attention_rollout(images, relevance, path, titles=None) -> Path:
    """Each image next to its attention rollout (Abnar and Zuidema 2020) overlaid.

    Args:
        images: ``(n, H, W, C)`` images (any range; each is scaled to [0, 1] for display).
        relevance: ``(n, grid_h, grid_w)`` relevance of the patches
            (:func:`kerasseq.diagnostics.attention_rollout`); each map is scaled to [0, 1] and
            upsampled (bilinear) over its image.
        path: PNG file to write.
        titles: optional ``n`` titles (e.g. the predicted and the true class).
    """
    import numpy as np

    plt = _pyplot()
    images, relevance = np.asarray(images), np.asarray(relevance, "float64")
    if images.ndim != 4 or relevance.ndim != 3 or len(images) != len(relevance):
        raise ValueError("Expected images (n, H, W, C) and relevance (n, grid_h, grid_w). "
                         f"Received: {images.shape} and {relevance.shape}")
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(max(1.6 * n + 0.4, 5.0), 3.6), squeeze=False)
    for k in range(n):
        image = _display_image(images[k])
        height, width = image.shape[:2]
        grey = "gray" if image.ndim == 2 else None
        low, high = relevance[k].min(), relevance[k].max()
        heat = (relevance[k] - low) / max(high - low, 1e-12)
        axes[0, k].imshow(image, cmap=grey)
        axes[1, k].imshow(image, cmap=grey)
        axes[1, k].imshow(heat, cmap="inferno", alpha=0.6, interpolation="bilinear",
                          extent=(-0.5, width - 0.5, height - 0.5, -0.5), vmin=0.0, vmax=1.0)
        if titles is not None:
            axes[0, k].set_title(str(titles[k]), fontsize=7)
        for ax in axes[:, k]:
            ax.axis("off")
    fig.suptitle("attention rollout (Abnar & Zuidema 2020):\nbright patches reach the readout most",
                 fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_swin_windows(height: int, width: int, window_size, shift_size, path) -> Path:
    """Swin's windows on a ``height`` × ``width`` feature map (Liu et al. 2021, fig. 2 and 4).

    Three panels: the regular windows of W-MSA (solid) and the shifted windows of SW-MSA
    (dashed) on the map, coloured by the region each position falls into after the cyclic
    shift; the shifted map (``roll`` by ``-shift``) cut into regular windows, regions labelled
    as timm labels them (:func:`kerasseq.layers.swin.shifted_window_regions`); and the additive
    mask (:func:`kerasseq.layers.swin.shifted_window_mask`, 0 or -100) of the window that
    mixes the most regions. The window and shift are first clamped to the map as timm does
    (:func:`kerasseq.layers.swin.calc_window_shift`).
    """
    import numpy as np
    from keras import ops

    from kerasseq.layers.swin import (calc_window_shift, shifted_window_mask,
                                      shifted_window_regions, window_partition)

    plt = _pyplot()
    (wh, ww), (sh, sw) = calc_window_shift((height, width), window_size, shift_size)
    regions = shifted_window_regions(height, width, (wh, ww), (sh, sw))  # (H, W), shifted frame
    mask = shifted_window_mask(height, width, (wh, ww), (sh, sw))  # (nW, N, N)
    windows = ops.convert_to_numpy(window_partition(regions[None, :, :, None], (wh, ww)))
    windows = windows.reshape(len(mask), wh * ww)  # (nW, N) region of each window position
    counts = [len(np.unique(w)) for w in windows]
    chosen = int(np.argmax(counts))  # the first window mixing the most regions
    unshifted = np.roll(regions, (sh, sw), axis=(0, 1))  # where each region sits in the image
    colours = plt.get_cmap("Set3")
    image_kwargs = dict(cmap=colours, vmin=-0.5, vmax=11.5, interpolation="nearest")

    def grid(ax, offset_h, offset_w, style):
        for y in range(offset_h, height + 1, wh):
            ax.axhline(y - 0.5, color="black", lw=1.2, ls=style)
        for x in range(offset_w, width + 1, ww):
            ax.axvline(x - 0.5, color="black", lw=1.2, ls=style)

    def label_regions(ax, labels):
        for value in np.unique(labels):
            ys, xs = np.nonzero(labels == value)
            for part in _connected_boxes(ys, xs):
                ax.text(part[1], part[0], str(value), ha="center", va="center", fontsize=8,
                        weight="bold")

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.8))
    fig.subplots_adjust(left=0.02, right=0.99, bottom=0.11, top=0.87, wspace=0.12)
    ax = axes[0]
    ax.imshow(unshifted, **image_kwargs)
    grid(ax, 0, 0, "-")
    if sh or sw:
        grid(ax, sh % wh, sw % ww, "--")
    label_regions(ax, unshifted)
    ax.set_title(f"{height}×{width} map: W-MSA windows {wh}×{ww} (solid),\n"
                 f"SW-MSA windows shifted by ({sh}, {sw}) (dashed)", fontsize=9)
    ax = axes[1]
    ax.imshow(regions, **image_kwargs)
    grid(ax, 0, 0, "-")
    label_regions(ax, regions)
    row, column = divmod(chosen, width // ww)
    ax.add_patch(plt.Rectangle((column * ww - 0.5, row * wh - 0.5), ww, wh, fill=False,
                               edgecolor="red", lw=2.5))
    ax.set_title(f"after the cyclic shift by ({-sh}, {-sw}): regular windows,\n"
                 "regions labelled as timm (red: window of the mask)", fontsize=9)
    ax = axes[2]
    ax.imshow(mask[chosen], cmap="Greys_r", vmin=-100.0, vmax=0.0, interpolation="nearest")
    ax.set_xlabel("key position in the window")
    ax.set_ylabel("query position in the window")
    mixed = ", ".join(str(v) for v in np.unique(windows[chosen]))
    ax.set_title(f"mask of window {chosen} (regions {mixed}):\nwhite 0 = may attend, "
                 "black -100 = masked", fontsize=9)
    for ax in axes[:2]:
        ax.set_xticks([])
        ax.set_yticks([])
    return save_figure(fig, path)


def _connected_boxes(ys, xs):
    """Centres ``(y, x)`` of the rectangles a region's positions form (a region of the image
    frame may be split in two or four by the cyclic shift): split at gaps along each axis."""
    import numpy as np

    def runs(values):
        values = np.unique(values)
        breaks = np.flatnonzero(np.diff(values) > 1) + 1
        return np.split(values, breaks)

    return [((r[0] + r[-1]) / 2, (c[0] + c[-1]) / 2) for r in runs(ys) for c in runs(xs)]


def plot_trials(trials: list[dict], objective: str, direction: str, path, title: str = "",
                group: str | None = None) -> Path:
    """A hyperparameter search at a glance: each trial's objective in trial order, and the
    best so far.

    Args:
        trials: one dict per finished trial: ``{"trial": number, objective: value, ...}``.
        objective: the key of the objective in ``trials``.
        direction: ``"max"`` or ``"min"`` (for the best-so-far line).
        path: PNG file to write.
        title: figure title.
        group: a key of ``trials`` whose values colour the points (the ``model`` searched).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    numbers = [row["trial"] for row in trials]
    values = [row[objective] for row in trials]
    labels = [str(row.get(group, "")) for row in trials] if group else [""] * len(trials)
    for i, label in enumerate(dict.fromkeys(labels)):
        picked = [k for k, name in enumerate(labels) if name == label]
        ax.plot([numbers[k] for k in picked], [values[k] for k in picked], "o", color=f"C{i}",
                label=f"{group} = {label}" if group else "trial")
    best = max if direction == "max" else min
    ax.step(numbers, [best(values[: k + 1]) for k in range(len(values))], where="post",
            color="black", lw=1, label="best so far")
    ax.set(xlabel="trial", ylabel=objective, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def plot_ap_curve(curve: list[dict], path, title: str = "") -> Path:
    """COCO AP, AP50 and AP75 against the epoch (DETR's slow convergence, at a glance).

    Args:
        curve: one dict per evaluated epoch: ``{"epoch", "AP", "AP50", "AP75", ...}``.
        path: PNG file to write.
        title: figure title.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [row["epoch"] for row in curve]
    for key in ("AP50", "AP75", "AP"):
        if all(key in row for row in curve):
            ax.plot(epochs, [row[key] for row in curve], marker="o", markersize=3, label=key)
    ax.set(xlabel="epoch", ylabel="COCO score", ylim=(0, 1), title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def _xyxy_rectangle(box, color, **kwargs):
    import matplotlib.patches as patches

    x0, y0, x1, y1 = box
    return patches.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color, **kwargs)


def plot_query_attention(image, attention, boxes, scores, labels, class_names, path,
                         max_queries: int = 8) -> Path:
    """For one image, the decoder cross-attention of the most confident object queries over
    the image, each with its predicted box (DETR's Fig. 6).

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` pixels.
        attention: ``(queries, h, w)`` attention maps over the feature grid
            (:func:`kerasseq.diagnostics.detr.detr_cross_attention`).
        boxes: ``(queries, 4)`` pixel ``(x1, y1, x2, y2)``; scores, labels: ``(queries,)``.
        class_names: name of each label.
        path: PNG file to write.
        max_queries: show this many queries, highest score first.
    """
    import numpy as np

    plt = _pyplot()
    image = np.asarray(image, "float32")
    image = image[..., None] if image.ndim == 2 else image
    order = np.argsort(-np.asarray(scores))[:max_queries]
    fig, axes = plt.subplots(1, len(order) + 1, figsize=(2.2 * (len(order) + 1), 2.5))
    axes[0].imshow(_display_image(image), cmap="gray")
    axes[0].set_title("image", fontsize=8)
    height, width = image.shape[:2]
    for ax, q in zip(axes[1:], order):
        ax.imshow(_display_image(image), cmap="gray")
        ax.imshow(attention[q], cmap="inferno", alpha=0.6, extent=(0, width, height, 0),
                  interpolation="bilinear")
        ax.add_patch(_xyxy_rectangle(boxes[q], "cyan", linewidth=1.5))
        ax.set_title(f"query {q}: {class_names[int(labels[q])]} {float(scores[q]):.2f}", fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.suptitle("decoder cross-attention of the most confident object queries", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_query_matching(records: list[dict], path) -> Path:
    """The Hungarian matching of object queries to the objects of one canvas, at several
    epochs side by side: each matched query's predicted box, coloured as its target (white,
    dashed), labelled with the query's index.

    Args:
        records: dicts from :func:`kerasseq.diagnostics.detr.query_matching` (plus ``epoch``).
        path: PNG file to write.
    """
    import numpy as np

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(records), figsize=(4.2 * len(records), 4.4), squeeze=False)
    colors = plt.get_cmap("tab10")
    for ax, record in zip(axes[0], records):
        image = np.asarray(record["image"], "float32")
        size = image.shape[0]
        ax.imshow(image, cmap="gray")

        def xyxy(b):
            cx, cy, w, h = np.asarray(b) * size
            return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2

        labels = np.asarray(record["target_labels"])
        for t in np.flatnonzero(labels >= 0):
            ax.add_patch(_xyxy_rectangle(xyxy(record["target_boxes"][t]), "white", linestyle="--",
                                         linewidth=1.2))
        for q in np.flatnonzero(np.asarray(record["match"]) >= 0):
            t = int(record["match"][q])
            ax.add_patch(_xyxy_rectangle(xyxy(record["boxes"][q]), colors(t % 10), linewidth=1.8))
            x0, y0 = xyxy(record["boxes"][q])[:2]
            ax.text(x0, y0 - 1, f"q{q}→{int(labels[t])}", color=colors(t % 10), fontsize=8)
        epoch = record.get("epoch")
        ax.set_title(f"epoch {int(epoch)}" if epoch is not None else "", fontsize=10)
        ax.axis("off")
    fig.suptitle("queries matched to objects (white dashed: objects)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
