"""Pictures of object detections: predicted boxes with their class and score drawn over the
ground-truth boxes, on a grid of images (matplotlib, headless)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from kerasseq.plotting import _pyplot, save_figure


def _entries(items, count: int, with_scores: bool):
    """Per-image ``(boxes, labels, scores)`` from dicts or tuples, or empty when ``items`` is
    None."""
    out = []
    for i in range(count):
        if items is None:
            out.append((np.zeros((0, 4)), np.zeros(0, int), np.zeros(0)))
            continue
        item = items[i]
        if isinstance(item, dict):
            boxes, labels = item["boxes"], item["labels"]
            scores = item.get("scores") if with_scores else None
        elif with_scores:
            boxes, scores, labels = item
        else:
            boxes, labels = item
            scores = None
        labels = np.asarray(labels).reshape(-1)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)[:len(labels)]
        scores = np.ones(len(labels)) if scores is None else np.asarray(scores).reshape(-1)
        keep = labels >= 0  # padding
        out.append((boxes[keep], labels[keep], scores[keep]))
    return out


def plot_detections(images, predictions, ground_truth, class_names, path,
                    score_threshold: float = 0.5, columns: int = 4, max_images: int = 16,
                    title: str = "") -> Path:
    """A grid of images with predicted boxes (colour by class, ``"label score"``) over the
    ground-truth boxes (white, dashed, label below the box).

    Args:
        images: ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)`` pixels in [0, 255].
        predictions: per image, ``{"boxes": (k, 4), "scores": (k,), "labels": (k,)}`` or a
            tuple ``(boxes, scores, labels)`` (the format of
            :func:`kerasseq.metrics.coco.coco_evaluate`), or None; boxes are pixel
            ``(x0, y0, x1, y1)``.
        ground_truth: per image, ``{"boxes": (n, 4), "labels": (n,)}`` or ``(boxes,
            labels)`` in pixel ``(x0, y0, x1, y1)``; labels of -1 (padding) are skipped. Or
            None.
        class_names: name of each label.
        path: PNG file to write.
        score_threshold: predictions scoring below it are not drawn.
        columns: images per row.
        max_images: at most this many images (the first ones).
        title: figure title.

    Returns:
        ``path``.

    Example:
    >>> images = np.zeros((1, 64, 64), np.uint8)
    >>> plot_detections(images, [{"boxes": [[8, 8, 30, 40]], "scores": [0.9], "labels": [3]}],
    ...                 [{"boxes": [[9, 8, 30, 41]], "labels": [3]}], [str(d) for d in range(10)],
    ...                 "/tmp/detections.png").name
    'detections.png'
    """
    plt = _pyplot()
    images = np.asarray(images)[:max_images]
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    count = len(images)
    predicted = _entries(predictions, count, with_scores=True)
    truth = _entries(ground_truth, count, with_scores=False)
    columns = max(1, min(columns, count))
    rows = max(1, math.ceil(count / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.6 * rows), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, (gt_boxes, gt_labels, _), (boxes, labels, scores) in zip(
            axes.ravel(), images, truth, predicted):
        ax.imshow(np.clip(image, 0, 255).astype(np.uint8),
                  cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
        for (x0, y0, x1, y1), label in zip(gt_boxes, gt_labels):
            ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                                       edgecolor="white", linestyle="--", linewidth=0.8))
            ax.text(x0 - 0.5, y1 - 0.5, class_names[int(label)], color="white", fontsize=6,
                    va="top")
        for (x0, y0, x1, y1), label, score in zip(boxes, labels, scores):
            if score < score_threshold:
                continue
            colour = colours(int(label) % 10)
            ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                                       edgecolor=colour, linewidth=1.2))
            ax.text(x0 - 0.5, y0 - 1.0, f"{class_names[int(label)]} {score:.2f}", fontsize=6,
                    color="black", va="bottom",
                    bbox={"facecolor": colour, "edgecolor": "none", "pad": 0.5, "alpha": 0.8})
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
