"""The gated PixelCNN (van den Oord et al. 2016) and pixel-by-pixel sampling.

:func:`build_gated_pixelcnn` stacks :class:`~kerasseq.layers.pixelcnn.GatedPixelCNNBlock`
layers (the first with mask A and a large kernel, fed the image in both stacks), then two 1×1
mask-B convolutions to the logits of ``p(x_i | x_<i)`` at every pixel: one Bernoulli logit
per colour (binary images), 256 softmax logits per colour or PixelCNN++'s discretised logistic
mixture (8-bit images). Training is one
pass (teacher forcing: every conditional at once); :func:`sample_pixelcnn` draws images one
pixel (and colour) at a time, each a full forward pass through the compiled predict function.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerasseq.layers.pixelcnn import GatedPixelCNNBlock, MaskedConv2D
from kerasseq.losses.pixelcnn import (OUTPUTS, num_logistic_mixture_params,
                                      sample_discretized_logistic_mixture)


def build_gated_pixelcnn(image_shape, num_layers: int = 15, filters: int = 64, num_classes=None,
                         output: str = "bernoulli", kernel_size: int = 3,
                         first_kernel_size: int = 7, kernel_initializer="glorot_uniform",
                         num_mixtures: int = 10, name: str = "gated_pixelcnn") -> keras.Model:
    """A gated PixelCNN: images (and labels) -> per-pixel logits.

    Args:
        image_shape: ``(height, width, colours)``.
        num_layers: gated layers (the first with mask A).
        filters: channels of each stack (a multiple of the colours).
        num_classes: with a number, the model also takes int labels ``(batch,)`` and adds the
            class-conditional bias of a one-hot label to every layer's gates (§2.3).
        output: ``"bernoulli"``: inputs in {0, 1}, logits ``(batch, h, w, colours)``;
            ``"softmax256"``: inputs the levels 0..255 (scaled to [-1, 1] inside), logits
            ``(batch, h, w, colours, 256)``; ``"logistic_mixture"``: inputs the levels, the
            parameters of PixelCNN++'s discretised logistic mixture ``(batch, h, w,
            num_logistic_mixture_params(colours, num_mixtures))`` (the colours of a pixel
            are predicted together, so the masks treat a pixel as one unit: no colour groups).
        kernel_size: kernel of the mask-B layers (their receptive field grows by
            ``kernel_size // 2`` pixels per layer).
        first_kernel_size: kernel of the first (mask A) layer.
        kernel_initializer: initialiser of every kernel.
        num_mixtures: logistics of the ``"logistic_mixture"`` output.
        name: the model's name.

    Returns:
        A ``keras.Model`` with input ``images`` (and ``labels``), output the logits.

    Example:
    >>> model = build_gated_pixelcnn((28, 28, 1), num_layers=3, filters=8, num_classes=10)
    >>> tuple(model([np.zeros((2, 28, 28, 1)), np.array([3, 7])]).shape)
    (2, 28, 28, 1)
    """
    check_image_model_args(image_shape, num_layers, output)
    images = keras.Input(image_shape, name="images")
    inputs = [images]
    x = image_input(images, output)
    condition = []
    if num_classes:
        labels = keras.Input((), dtype="int32", name="labels")
        inputs.append(labels)
        condition = [keras.layers.CategoryEncoding(num_classes, output_mode="one_hot",
                                                   name="one_hot_labels")(labels)]
    common = dict(color_channels=mask_colours(image_shape, output), conditional=bool(num_classes),
                  kernel_initializer=kernel_initializer)
    v, h = GatedPixelCNNBlock(filters, first_kernel_size, "A", name="gated_0", **common)(
        [x, x, *condition])
    for k in range(1, num_layers):
        v, h = GatedPixelCNNBlock(filters, kernel_size, "B", name=f"gated_{k}", **common)(
            [v, h, *condition])
    logits = output_head(h, image_shape, output, filters, kernel_initializer, num_mixtures)
    return keras.Model(inputs if num_classes else images, logits, name=name)


def check_image_model_args(image_shape, num_layers, output):
    if output not in OUTPUTS:
        raise ValueError(f"Expected output in {OUTPUTS}. Received: output={output!r}")
    if len(image_shape) != 3:
        raise ValueError(f"Expected image_shape (height, width, colours). Received: "
                         f"image_shape={image_shape!r}")
    if num_layers < 1:
        raise ValueError(f"Expected num_layers >= 1. Received: num_layers={num_layers}")


def mask_colours(image_shape, output) -> int:
    """The colour groups of the masks: the image's colours, or 1 for the logistic mixture,
    which predicts a pixel's colours together (their coupling is in the likelihood)."""
    return 1 if output == "logistic_mixture" else image_shape[-1]


def image_input(images, output):
    """Levels 0..255 scaled to [-1, 1] (binary images as they are)."""
    if output == "bernoulli":
        return images
    return keras.layers.Rescaling(2.0 / 255.0, offset=-1.0, name="to_unit_range")(images)


def output_head(h, image_shape, output, filters, kernel_initializer, num_mixtures=10):
    """ReLU, a 1×1 mask-B convolution with ReLU, and a 1×1 mask-B convolution to the outputs
    (``logits``): per colour one Bernoulli logit or 256 softmax logits
    ``(batch, h, w, colours, 256)``, or the logistic mixture's parameters."""
    height, width, colours = image_shape
    groups = mask_colours(image_shape, output)
    h = keras.layers.ReLU(name="head_relu_0")(h)
    h = MaskedConv2D(filters, 1, "B", groups, activation="relu", name="head_conv",
                     kernel_initializer=kernel_initializer)(h)
    if output == "logistic_mixture":
        return MaskedConv2D(num_logistic_mixture_params(colours, num_mixtures), 1, "B", 1,
                            name="logits", kernel_initializer=kernel_initializer)(h)
    levels = 1 if output == "bernoulli" else 256
    logits = MaskedConv2D(colours * levels, 1, "B", colours, name="logits",
                          kernel_initializer=kernel_initializer)(h)
    if output == "softmax256":  # colour-major channels: colour c's levels are c·256 .. c·256+255
        logits = keras.layers.Reshape((height, width, colours, 256), name="levels")(logits)
    return logits


def _draw(logits, rng, output):
    """One value per row of ``logits`` ((n,) Bernoulli logits or (n, 256) softmax logits)."""
    logits = np.asarray(logits, np.float64)
    if output == "bernoulli":
        return (rng.random(logits.shape) < 1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    gumbel = -np.log(-np.log(rng.random(logits.shape)))
    return np.argmax(logits + gumbel, axis=-1).astype(np.float32)


def sample_pixelcnn(model, num_images: int = 0, labels=None, *, images=None, start_row: int = 0,
                    seed: int = 0, output: str = "bernoulli", num_mixtures: int = 10) -> np.ndarray:
    """Images drawn from a PixelCNN pixel by pixel (colour by colour) in raster order.

    Each pixel costs one forward pass of the whole model (``model.predict_on_batch``, the
    compiled predict function), so an image of ``h × w × c`` values takes ``h·w·c`` passes
    (``h·w`` for the logistic mixture, which draws a pixel's colours together).

    Args:
        model: from :func:`build_gated_pixelcnn`.
        num_images: images to draw (ignored when ``labels`` or ``images`` fix the batch).
        labels: int classes ``(n,)`` of a class-conditional model.
        images: ``(n, h, w, c)`` to complete: rows before ``start_row`` are kept.
        start_row: the first row drawn.
        seed: NumPy random seed of the draws.
        output: the model's ``output``.
        num_mixtures: the model's ``num_mixtures`` (logistic mixture).

    Returns:
        float32 ``(n, h, w, c)``: values in {0, 1} (bernoulli) or 0..255.
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
            if output == "logistic_mixture":
                params = ops.convert_to_numpy(model.predict_on_batch([x, *extra] if extra else x))
                gumbel = -np.log(-np.log(rng.uniform(1e-5, 1 - 1e-5, (len(x), num_mixtures))))
                uniform = rng.uniform(1e-5, 1 - 1e-5, (len(x), colours))
                x[:, i, j] = ops.convert_to_numpy(sample_discretized_logistic_mixture(
                    ops.convert_to_tensor(params[:, i, j]), colours, num_mixtures,
                    ops.convert_to_tensor(gumbel, "float32"),
                    ops.convert_to_tensor(uniform, "float32")))
                continue
            for c in range(colours):
                logits = model.predict_on_batch([x, *extra] if extra else x)
                x[:, i, j, c] = _draw(ops.convert_to_numpy(logits)[:, i, j, c], rng, output)
    return x
