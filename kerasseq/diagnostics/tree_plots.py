"""A sentiment tree drawn with the predicted and the true class at every node (SST)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FINE_NAMES = ("--", "-", "0", "+", "++")
BINARY_NAMES = ("-", "+")


def tree_layout(left, right, level):
    """``(x, y)`` of every node of one tree's post-order arrays: leaves at x = 0, 1, ... in
    sentence order and y = 0; a parent midway above its children at y = its level."""
    n = int(np.sum(np.asarray(level) >= 0))
    x, leaf = np.zeros(n), 0
    for i in range(n):  # children come before their parent in post-order
        if left[i] < 0:
            x[i], leaf = leaf, leaf + 1
        else:
            x[i] = (x[left[i]] + x[right[i]]) / 2
    return x, np.asarray(level[:n], float)


def plot_sentiment_tree(words, left, right, level, predicted, true, path, num_classes: int = 5,
                        title: str = ""):
    """Draw one tree: each node a disc coloured by its predicted class (red negative ..
    blue positive), labelled ``predicted/true``, a ring where they differ; words under the
    leaves.

    Args:
        words: the sentence's tokens, left to right.
        left, right, level: the tree's node arrays (:func:`kerasseq.data.treebank.tree_arrays`).
        predicted, true: ``(nodes,)`` classes, -1 where none (``true``: not supervised;
            ``predicted``: a sentence model predicts the root only).
        path: the PNG to write.
        num_classes: 5 (fine: --, -, 0, +, ++) or 2 (binary: -, +).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = tree_layout(left, right, level)
    n = len(x)
    names = FINE_NAMES if num_classes == 5 else BINARY_NAMES
    cmap = plt.get_cmap("RdBu")
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(words)), 1.2 + 0.45 * max(y.max(), 1)))
    for i in range(n):
        if left[i] >= 0:
            for child in (left[i], right[i]):
                ax.plot([x[i], x[child]], [y[i], y[child]], color="0.6", lw=0.8, zorder=1)
    for i in range(n):
        p, t = int(predicted[i]), int(true[i])
        wrong = t >= 0 and p != t
        colour = cmap(p / (len(names) - 1)) if p >= 0 else "0.85"
        ring = wrong and p >= 0
        ax.scatter(x[i], y[i], s=170, color=colour, zorder=2, edgecolors="black" if ring else "0.5",
                   linewidths=1.8 if ring else 0.5)
        label = f"{names[p] if p >= 0 else '·'}/{names[t] if t >= 0 else '·'}"
        ax.annotate(label, (x[i], y[i]), xytext=(0, 8), textcoords="offset points", ha="center",
                    fontsize=6)
    leaves = np.flatnonzero(np.asarray(left[:n]) < 0)
    for i, word in zip(leaves, words):
        ax.text(x[i], -0.6, word, rotation=60, ha="right", va="top", fontsize=8)
    ax.set_ylim(-2.5, y.max() + 1)
    ax.axis("off")
    ax.set_title(title or "predicted/true sentiment at every node (ringed: wrong)", fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
