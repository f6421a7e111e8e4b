"""Pictures of image captioning: a caption next to its references with one attention map per
word overlaid on the image (Xu et al. 2015, fig. 2-3), and the distribution of the total
attention each image location receives over a caption."""

from __future__ import annotations

import numpy as np

from kerasseq.plotting import _pyplot, save_figure


def _upsample(alpha: np.ndarray, size: int) -> np.ndarray:
    """An attention vector over an h×h grid (h² values), bilinearly upsampled to size×size."""
    side = int(round(len(alpha) ** 0.5))
    if side * side != len(alpha):
        raise ValueError(f"Expected attention over a square grid. Received: {len(alpha)} locations")
    grid = alpha.reshape(side, side)
    coords = (np.arange(size) + 0.5) * side / size - 0.5
    coords = np.clip(coords, 0, side - 1)
    low = np.floor(coords).astype(int)
    high = np.minimum(low + 1, side - 1)
    frac = coords - low
    rows = grid[low] * (1 - frac)[:, None] + grid[high] * frac[:, None]
    return rows[:, low] * (1 - frac)[None, :] + rows[:, high] * frac[None, :]


def plot_caption(image, words: list[str], references: list[str], path, attention=None,
                 title: str = ""):
    """One image with its generated caption and reference captions; with ``attention``
    ``(len(words) + 1, L)`` (row t: the weights while word t, then ``<end>``, was produced),
    one panel per word with the upsampled attention overlaid (white: attended)."""
    plt = _pyplot()
    image = np.asarray(image)
    panels = [] if attention is None else list(zip(words + ["<end>"], np.asarray(attention)))
    columns = min(6, len(panels) + 1)
    rows = 1 + (len(panels) + columns - 1) // columns if panels else 1
    fig = plt.figure(figsize=(2.3 * columns, 2.5 * rows + 1.4))
    ax = fig.add_subplot(rows, columns, 1)
    ax.imshow(image)
    ax.set_axis_off()
    text = "generated: " + " ".join(words) + "\n" + "\n".join(f"ref {k + 1}: {r}" for k, r in
                                                               enumerate(references))
    fig.text(0.01, 0.01, text, fontsize=8, va="bottom", family="monospace", wrap=True)
    for k, (word, alpha) in enumerate(panels):
        ax = fig.add_subplot(rows, columns, columns + k + 1)
        ax.imshow(image)
        heat = _upsample(np.asarray(alpha, float), image.shape[0])
        ax.imshow(heat / max(heat.max(), 1e-9), cmap="gray", alpha=0.6, vmin=0, vmax=1)
        ax.set_title(word, fontsize=10)
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.06 + 0.018 * len(references), 1, 0.97))
    return save_figure(fig, path)


def plot_attention_totals(totals, path, title: str = ""):
    """Histogram of Σ_t α_ti, the attention each location i received over a whole caption
    ``totals`` ``(captions, L)``; the doubly stochastic regulariser pulls it towards 1."""
    plt = _pyplot()
    totals = np.asarray(totals, float).ravel()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.hist(totals, bins=40, color="tab:blue")
    ax.axvline(1.0, color="k", linestyle="--", linewidth=1, label="1 (every location attended once)")
    ax.set_xlabel("Σ_t α_ti over a caption")
    ax.set_ylabel("locations")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
