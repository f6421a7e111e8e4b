"""Pictures of visual question answering: test images with their question, the predicted and
the true answer, and for the attention model where the question looked (Xu et al. 2015's
soft attention, upsampled over the image)."""

from __future__ import annotations

import textwrap

import numpy as np

from kerasseq.diagnostics.caption_plots import _upsample
from kerasseq.plotting import _pyplot, save_figure


def plot_answers(images, questions: list[str], predicted: list[str], truths: list[str], path,
                 attention=None, columns: int = 4, title: str = ""):
    """A grid of images, each titled with its question and ``predicted / true`` answer (green
    when right, red when wrong); with ``attention`` ``(n, L)`` (L = h·w), the upsampled
    attention is drawn over each image (bright: attended).

    Args:
        images: uint8 ``(n, S, S, 3)``.
        questions / predicted / truths: n strings each.
        path: the PNG to write.
        attention: optional α ``(n, L)``.
        columns: panels per row.
        title: the figure's title.
    """
    plt = _pyplot()
    count = len(images)
    columns = max(1, min(columns, count))
    rows = (count + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 4.4 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= count:
            continue
        image = np.asarray(images[k])
        if attention is None:
            ax.imshow(image)
        else:
            heat = _upsample(np.asarray(attention[k], "float64"), image.shape[0])
            heat = heat / max(heat.max(), 1e-12)
            ax.imshow((image * (0.25 + 0.75 * heat[..., None])).astype("uint8"))
        right = predicted[k] == truths[k]
        ax.set_title("\n".join(textwrap.wrap(questions[k], 34)[:3])
                     + f"\npredicted: {predicted[k]}\ntrue: {truths[k]}",
                     fontsize=7.5, color="darkgreen" if right else "firebrick")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
