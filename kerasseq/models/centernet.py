"""CenterNet (Zhou et al. 2019, "Objects as Points"): an anchor-free detector that predicts
object centres as heatmap peaks, with each object's size and sub-cell offset read at its peak.
The conventional baseline for DETR, on the same backbone (backend-agnostic).

A ResNet backbone, up-convolutions back to output stride 4, and three heads; trained with
:class:`kerasseq.losses.CenterNetLoss`, decoded by :func:`decode_centernet` (no anchors, no
box NMS: a 3×3 max-pool keeps the peaks).
"""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.boxes import box_cxcywh_to_xyxy
from kerasseq.models.backbones import build_backbone

HEATMAP_BIAS = -2.19  # the paper's prior: σ(−2.19) ≈ 0.1 on every heatmap cell at the start


def _upsample(x, filters, name):
    """One up-convolution stage of CenterNet's ResNet variant: a 3×3 convolution (deformable in
    the paper), then a 4×4 stride-2 transposed convolution, each with BN and ReLU."""
    for layer in (keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                      kernel_initializer="he_normal", name=f"{name}_conv"),
                  keras.layers.BatchNormalization(epsilon=1e-5, name=f"{name}_conv_bn"),
                  keras.layers.ReLU(name=f"{name}_conv_relu"),
                  keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False,
                                               kernel_initializer="he_normal", name=f"{name}_up"),
                  keras.layers.BatchNormalization(epsilon=1e-5, name=f"{name}_up_bn"),
                  keras.layers.ReLU(name=f"{name}_up_relu")):
        x = layer(x)
    return x


def _head(x, channels, outputs, name, bias_initializer="zeros"):
    """A CenterNet head: 3×3 convolution, ReLU, 1×1 convolution to ``outputs`` channels."""
    x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name=f"{name}_conv")(x)
    return keras.layers.Conv2D(outputs, 1, bias_initializer=bias_initializer, name=name)(x)


def build_centernet(num_classes, input_shape=(128, 128, 1), backbone="resnet", head_channels=64,
                    upsampling_filters=(128, 64), name="centernet") -> keras.Model:
    """CenterNet with a ResNet backbone (Zhou et al. 2019, "Objects as Points", §4).

    Images → backbone (output stride s, 16 for ``"resnet"``) → one up-convolution stage per
    entry of ``upsampling_filters`` (3×3 conv, 4×4 stride-2 transposed conv, BN + ReLU each),
    to output stride s / 2**len(upsampling_filters) (4 by default) → three heads of
    3×3 conv (``head_channels``) + ReLU + 1×1 conv:

    - heatmap logits, C channels, bias −2.19 so that σ ≈ 0.1 at the start;
    - size (w, h), normalised to the image, regressed with L1;
    - centre offset (x, y) within the output cell, in cells.

    The three are concatenated on the last axis (float32) so that one
    :class:`kerasseq.losses.CenterNetLoss` trains them.

    Args:
        num_classes: number of object classes C.
        input_shape: ``(height, width, channels)`` of the images, float pixels in [0, 255].
        backbone: ``"resnet"`` or a ``keras.Model`` from images to a feature map
            (:func:`kerasseq.models.backbones.build_backbone`; the same one DETR uses).
        head_channels: channels of each head's 3×3 convolution.
        upsampling_filters: channels of each up-convolution stage.
        name: the model's name.

    Returns:
        A ``keras.Model`` from ``(batch, H, W, channels)`` images to
        ``(batch, H / 4, W / 4, C + 4)``: heatmap logits, size, offset.

    Example:
    >>> model = build_centernet(num_classes=10)  # 128×128 grayscale canvases
    >>> model.output.shape
    (None, 32, 32, 14)
    >>> model.compile("adam", loss=CenterNetLoss(num_classes=10))
    >>> detections = decode_centernet(model.predict(images))  # boxes, scores, labels

    References:
        Zhou, Wang & Krähenbühl 2019, "Objects as points", arXiv:1904.07850.
    """
    if int(num_classes) < 1:
        raise ValueError(f"Expected num_classes >= 1. Received: num_classes={num_classes}")
    images = keras.Input(input_shape, name="images")
    features = build_backbone(backbone, input_shape)(images)  # (B, H/s, W/s, F)
    x = features
    for stage, filters in enumerate(upsampling_filters):
        x = _upsample(x, filters, f"upsample{stage + 1}")  # (B, H/s·2^stage, ..., filters)
    heatmap = _head(x, head_channels, num_classes, "heatmap",
                    keras.initializers.Constant(HEATMAP_BIAS))  # (B, H/4, W/4, C)
    size = _head(x, head_channels, 2, "size")  # (B, H/4, W/4, 2)
    offset = _head(x, head_channels, 2, "offset")  # (B, H/4, W/4, 2)
    outputs = keras.layers.Concatenate(dtype="float32", name="outputs")(
        [heatmap, size, offset])  # (B, H/4, W/4, C + 4), float32 under mixed precision too
    return keras.Model(images, outputs, name=name)


def decode_centernet(outputs, max_detections=100, score_threshold=0.0):
    """CenterNet's detections: heatmap peaks, top-k over classes and positions, boxes read there.

    σ(heatmap logits); a cell is a peak when it equals the 3×3 max-pool around it (the paper's
    replacement for box NMS); the ``max_detections`` highest peaks over all classes and
    positions become boxes centred at (x + ôx, y + ôy) / grid with the size (ŵ, ĥ) predicted
    at the peak. In ``keras.ops`` on static spatial dims and any batch size: it can follow the
    model inside an exported SavedModel.

    Args:
        outputs: ``(batch, height, width, C + 4)``: heatmap logits, size (w, h), offset (x, y),
            as :func:`build_centernet` predicts them.
        max_detections: K, the detections kept per image (at most height·width·C).
        score_threshold: detections scoring below it stay in their slot as padding: score 0,
            label −1.

    Returns:
        A dict: ``boxes`` ``(batch, K, 4)`` normalised ``(x1, y1, x2, y2)`` clipped to [0, 1];
        ``scores`` ``(batch, K)``, highest first; ``labels`` int32 ``(batch, K)``.

    Example:
    >>> detections = decode_centernet(model.predict(images), max_detections=20)
    >>> detections["boxes"].shape  # (batch, 20, 4)
    """
    outputs = ops.cast(outputs, "float32")
    _, height, width, channels = outputs.shape
    num_classes = channels - 4
    k = min(int(max_detections), height * width * num_classes)
    heat = ops.sigmoid(outputs[..., :num_classes])  # (B, H, W, C)
    peaks = ops.max_pool(heat, 3, strides=1, padding="same")  # (B, H, W, C)
    heat = heat * ops.cast(ops.equal(heat, peaks), "float32")  # (B, H, W, C)
    scores, indices = ops.top_k(ops.reshape(heat, (-1, height * width * num_classes)), k)  # (B, K) each
    labels = ops.cast(indices % num_classes, "int32")  # (B, K)
    cells = indices // num_classes  # (B, K)
    regression = ops.reshape(outputs[..., num_classes:], (-1, height * width, 4))  # (B, HW, 4)
    at_peaks = ops.take_along_axis(regression, ops.repeat(cells[..., None], 4, axis=-1), axis=1)  # (B, K, 4)
    grid = ops.convert_to_tensor([width, height], "float32")  # (2,)
    position = ops.stack([cells % width, cells // width], axis=-1)  # (B, K, 2): x, y
    centre = (ops.cast(position, "float32") + at_peaks[..., 2:]) / grid  # (B, K, 2)
    boxes = box_cxcywh_to_xyxy(ops.concatenate([centre, at_peaks[..., :2]], axis=-1))  # (B, K, 4)
    boxes = ops.clip(boxes, 0.0, 1.0)  # (B, K, 4)
    keep = scores >= score_threshold  # (B, K)
    return {"boxes": boxes, "scores": ops.where(keep, scores, 0.0),
            "labels": ops.where(keep, labels, -1)}
