"""The gated PixelCNN (van den Oord et al. 2016) and pixel-by-pixel sampling.

:func:`build_gated_pixelcnn` stacks :class:`~kerasseq.layers.pixelcnn.GatedPixelCNNBlock`
layers (the first with mask A and a large kernel, fed the image in both stacks), then two 1×1
mask-B convolutions to the logits of ``p(x_i | x_<i)`` at every pixel: one Bernoulli logit
per colour (binary images) or 256 softmax logits per colour (8-bit images). Training is one
pass (teacher forcing: every conditional at once); :func:`sample_pixelcnn` draws images one
pixel (and colour) at a time, each a full forward pass through the compiled predict function.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerasseq.layers.pixelcnn import GatedPixelCNNBlock, MaskedConv2D
from kerasseq.losses.pixelcnn import OUTPUTS


def build_gated_pixelcnn(image_shape, num_layers: int = 15, filters: int = 64, num_classes=None,
                         output: str = "bernoulli", kernel_size: int = 3,
                         first_kernel_size: int = 7, kernel_initializer="glorot_uniform",
                         name: str = "gated_pixelcnn") -> keras.Model:
    """A gated PixelCNN: images (and labels) -> per-pixel logits.

    Args:
        image_shape: ``(height, width, colours)``.
        num_layers: gated layers (the first with mask A).
        filters: channels of each stack (a multiple of the colours).
        num_classes: with a number, the model also takes int labels ``(batch,)`` and adds the
            class-conditional bias of a one-hot label to every layer's gates (§2.3).
        output: ``"bernoulli"``: inputs in {0, 1}, logits ``(batch, h, w, colours)``;
            ``"softmax256"``: inputs the levels 0..255 (scaled to [-1, 1] inside), logits
            ``(batch, h, w, colours, 256)``.
        kernel_size: kernel of the mask-B layers (their receptive field grows by
            ``kernel_size // 2`` pixels per layer).
        first_kernel_size: kernel of the first (mask A) layer.
        kernel_initializer: initialiser of every kernel.
        name: the model's name.

    Returns:
        A ``keras.Model`` with input ``images`` (and ``labels``), output the logits.

    Example:
    >>> model = build_gated_pixelcnn((28, 28, 1), num_layers=3, filters=8, num_classes=10)
    >>> tuple(model([np.zeros((2, 28, 28, 1)), np.array([3, 7])]).shape)
    (2, 28, 28, 1)
    """
    if output not in OUTPUTS:
        raise ValueError(f"Expected output in {OUTPUTS}. Received: output={output!r}")
    if len(image_shape) != 3:
        raise ValueError(f"Expected image_shape (height, width, colours). Received: "
                         f"image_shape={image_shape!r}")
    if num_layers < 1:
        raise ValueError(f"Expected num_layers >= 1. Received: num_layers={num_layers}")
    height, width, colours = image_shape
    images = keras.Input(image_shape, name="images")
    inputs = [images]
    x = images
    if output == "softmax256":
        x = keras.layers.Rescaling(2.0 / 255.0, offset=-1.0, name="to_unit_range")(x)
    condition = []
    if num_classes:
        labels = keras.Input((), dtype="int32", name="labels")
        inputs.append(labels)
        condition = [keras.layers.CategoryEncoding(num_classes, output_mode="one_hot",
                                                   name="one_hot_labels")(labels)]
    common = dict(color_channels=colours, conditional=bool(num_classes),
                  kernel_initializer=kernel_initializer)
    v, h = GatedPixelCNNBlock(filters, first_kernel_size, "A", name="gated_0", **common)(
        [x, x, *condition])
    for k in range(1, num_layers):
        v, h = GatedPixelCNNBlock(filters, kernel_size, "B", name=f"gated_{k}", **common)(
            [v, h, *condition])
    h = keras.layers.ReLU(name="head_relu_0")(h)
    h = MaskedConv2D(filters, 1, "B", colours, activation="relu", name="head_conv",
                     kernel_initializer=kernel_initializer)(h)
    levels = 1 if output == "bernoulli" else 256
    logits = MaskedConv2D(colours * levels, 1, "B", colours, name="logits",
                          kernel_initializer=kernel_initializer)(h)
    if output == "softmax256":  # colour-major channels: colour c's levels are c·256 .. c·256+255
        logits = keras.layers.Reshape((height, width, colours, 256), name="levels")(logits)
    return keras.Model(inputs if num_classes else images, logits, name=name)


def _draw(logits, rng, output):
    """One value per row of ``logits`` ((n,) Bernoulli logits or (n, 256) softmax logits)."""
    logits = np.asarray(logits, np.float64)
    if output == "bernoulli":
        return (rng.random(logits.shape) < 1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    gumbel = -np.log(-np.log(rng.random(logits.shape)))
    return np.argmax(logits + gumbel, axis=-1).astype(np.float32)


def sample_pixelcnn(model, num_images: int = 0, labels=None, *, images=None, start_row: int = 0,
                    seed: int = 0, output: str = "bernoulli") -> np.ndarray:
    """Images drawn from a PixelCNN pixel by pixel (colour by colour) in raster order.

    Each pixel costs one forward pass of the whole model (``model.predict_on_batch``, the
    compiled predict function), so an image of ``h × w × c`` values takes ``h·w·c`` passes.

    Args:
        model: from :func:`build_gated_pixelcnn`.
        num_images: images to draw (ignored when ``labels`` or ``images`` fix the batch).
        labels: int classes ``(n,)`` of a class-conditional model.
        images: ``(n, h, w, c)`` to complete: rows before ``start_row`` are kept.
        start_row: the first row drawn.
        seed: NumPy random seed of the draws.
        output: the model's ``output`` (``"bernoulli"`` or ``"softmax256"``).

    Returns:
        float32 ``(n, h, w, c)``: values in {0, 1} (bernoulli) or 0..255 (softmax256).
    """
    height, width, colours = model.inputs[0].shape[1:]
    if images is not None:
        x = np.array(images, np.float32)
    else:
        n = len(labels) if labels is not None else num_images
        x = np.zeros((n, height, width, colours), np.float32)
    if len(model.inputs) > 1 and labels is None:
        raise ValueError("Expected labels for a class-conditional model. Received: labels=None")
    rng = np.random.default_rng(seed)
    extra = [np.asarray(labels, np.int32)] if len(model.inputs) > 1 else []
    for i in range(start_row, height):
        for j in range(width):
            for c in range(colours):
                logits = model.predict_on_batch([x, *extra] if extra else x)
                x[:, i, j, c] = _draw(ops.convert_to_numpy(logits)[:, i, j, c], rng, output)
    return x
