"""PixelCNN diagnostics: the receptive field by input gradients, and figures of samples.

The receptive field of output pixel ``(i, j)`` is where ``∂ logits[i, j] / ∂ x`` is non-zero:
for an autoregressive model it must vanish at ``(i, j)`` and after it in raster order, and a
gated PixelCNN (unlike a stack of masked convolutions) sees every earlier pixel within its
window, with no blind spot. Gradients are taken with ``tf.GradientTape`` (TensorFlow) or
``jax.grad`` (JAX).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np


def input_gradient(model, images, pixels, labels=None) -> np.ndarray:
    """``|∂ Σ logits[:, i, j] / ∂ images|`` (or ``logits[:, i, j, c]`` for a pixel given as
    ``(i, j, c)``) summed over the batch, for each of ``pixels``: ``(len(pixels), h, w, c)``,
    or ``(h, w, c)`` for a single pixel.

    One compiled gradient function serves every pixel (the pixel is a weight on the logits).

    Args:
        model: images (and labels) -> logits ``(batch, h, w, c[, levels])``.
        images: float ``(n, h, w, c)`` at which the gradient is taken.
        pixels: ``(i, j)`` (all colours and levels of the pixel) or ``(i, j, colour)``, or a
            list of them.
        labels: int ``(n,)`` for a class-conditional model.
    """
    single = np.ndim(pixels) == 1
    pixels = [tuple(pixels)] if single else [tuple(p) for p in pixels]
    images = np.asarray(images, np.float32)
    extra = [keras.ops.convert_to_tensor(np.asarray(labels, np.int32))] if labels is not None else []
    out_shape = tuple(model.outputs[0].shape[1:])

    def weight_of(pixel):
        weight = np.zeros(out_shape, np.float32)
        weight[pixel] = 1.0
        return weight

    def objective(x, weight):
        logits = model([x, *extra] if extra else x, training=False)
        return keras.ops.sum(keras.ops.multiply(logits, weight))

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def gradient(x, weight):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = objective(x, weight)
            return tape.gradient(value, x)

        grads = [gradient(tf.constant(images), tf.constant(weight_of(p))).numpy() for p in pixels]
    elif backend == "jax":
        import jax

        gradient = jax.jit(jax.grad(objective))
        grads = [np.asarray(gradient(images, weight_of(p))) for p in pixels]
    else:
        raise NotImplementedError(f"input_gradient needs the TensorFlow or JAX backend; this is "
                                  f"{backend!r}")
    grads = np.stack([np.abs(g).sum(axis=0) for g in grads])
    return grads[0] if single else grads


def expected_receptive_field(height: int, width: int, pixel, num_layers: int, kernel_size: int,
                             first_kernel_size: int) -> np.ndarray:
    """The pixels a gated PixelCNN's output at ``pixel`` sees, bool ``(h, w)``: with
    ``R = first_kernel_size // 2 + (num_layers - 1) · (kernel_size // 2)``, the rows ``i - R ..
    i - 1`` at the columns ``j - R .. j + R`` and the row ``i`` at ``j - R .. j - 1``."""
    i, j = pixel
    reach = first_kernel_size // 2 + (num_layers - 1) * (kernel_size // 2)
    seen = np.zeros((height, width), bool)
    seen[max(i - reach, 0):i, max(j - reach, 0):j + reach + 1] = True
    seen[i, max(j - reach, 0):j] = True
    return seen


def plot_receptive_field(gradient, pixel, path, title: str = "") -> Path:
    """The gradient map of :func:`input_gradient` (summed over colours, log scale), the output
    pixel marked."""
    from kerasseq.plotting import _pyplot, save_figure

    plt = _pyplot()
    grad = np.asarray(gradient).sum(-1) if np.ndim(gradient) == 3 else np.asarray(gradient)
    shown = np.where(grad > 0, np.log10(np.maximum(grad, 1e-30)), np.nan)
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.imshow(np.zeros_like(grad), cmap="gray_r", vmin=0, vmax=1)
    image = ax.imshow(shown, cmap="viridis")
    ax.add_patch(plt.Rectangle((pixel[1] - 0.5, pixel[0] - 0.5), 1, 1, fill=False, ec="red", lw=1.5))
    fig.colorbar(image, ax=ax, fraction=0.046, label="log10 |∂ logit / ∂ input|")
    ax.set_title(title or f"receptive field of pixel {tuple(pixel)}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return save_figure(fig, path)


def plot_image_grid(rows, path, row_labels=None, title: str = "", vmax: float = 1.0) -> Path:
    """Images ``(rows, cols, h, w, c)`` as a grid, one label per row."""
    from kerasseq.plotting import _pyplot, save_figure

    plt = _pyplot()
    rows = np.asarray(rows)
    n_rows, n_cols = rows.shape[:2]
    fig, axes = plt.subplots(n_rows, n_cols, squeeze=False,
                             figsize=(max(0.8 * n_cols + 0.6, 3.6), 0.8 * n_rows + 0.5))
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r, c]
            image = rows[r, c]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image / vmax, cmap="gray",
                      vmin=0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
        if row_labels is not None:
            axes[r, 0].set_ylabel(str(row_labels[r]), rotation=0, labelpad=12, fontsize=8,
                                  va="center")
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
