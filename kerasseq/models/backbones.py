"""Convolutional backbones for detection and captioning: a small ResNet for CPU-sized data, or
any ``keras.applications`` network (ResNet-50 with ImageNet weights, as in DETR); and the small
ResNet as an image classifier, to pretrain it on labelled images (CIFAR-10) for the tasks that
have no ImageNet weights offline.

A backbone maps images to a feature map ``(batch, height / stride, width / stride, channels)``.
"""

from __future__ import annotations

import keras


def _conv_bn(x, filters, kernel_size, strides, name, activation=True):
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False,
                            kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if activation else x


def _basic_block(x, filters, strides, name):
    """He et al.'s basic residual block: two 3×3 convolutions and a projected shortcut."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, strides, f"{name}_shortcut", activation=False)
    y = _conv_bn(x, filters, 3, strides, f"{name}_1")
    y = _conv_bn(y, filters, 3, 1, f"{name}_2", activation=False)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def build_resnet_backbone(input_shape=(128, 128, 1), filters=(32, 64, 128),
                          blocks_per_stage=(2, 2, 2), name="resnet_backbone") -> keras.Model:
    """A small ResNet (He et al., CVPR 2016; the basic blocks of ResNet-18), output stride 16.

    ResNet's stem (a stride-2 convolution, here 3×3, and a 3×3 stride-2 max-pool), then one
    stage per entry of ``filters``; every stage after the first halves the resolution, so the
    output stride is ``4 * 2 ** (len(filters) - 1)``. Inputs are float pixels in [0, 255]
    (rescaled inside).

    Args:
        input_shape: ``(height, width, channels)`` of the images.
        filters: channels of each stage.
        blocks_per_stage: basic blocks in each stage.
        name: the model's name.

    Returns:
        A ``keras.Model`` from images to ``(batch, height / stride, width / stride, filters[-1])``.

    Example:
        >>> backbone = build_resnet_backbone((128, 128, 1))
        >>> backbone.output.shape
        (None, 8, 8, 128)
    """
    if len(filters) != len(blocks_per_stage):
        raise ValueError(f"Expected one entry of blocks_per_stage per stage of filters. Received: "
                         f"filters={filters}, blocks_per_stage={blocks_per_stage}")
    images = keras.Input(input_shape, name="images")
    x = keras.layers.Rescaling(1.0 / 255.0, offset=-0.5, name="rescale")(images)
    x = _conv_bn(x, filters[0], 3, 2, "stem")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, (width, blocks) in enumerate(zip(filters, blocks_per_stage)):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(x, width, strides, f"stage{stage + 1}_block{block + 1}")
    return keras.Model(images, x, name=name)


def build_resnet_classifier(input_shape=(32, 32, 3), num_classes=10, filters=(32, 64, 128),
                            blocks_per_stage=(2, 2, 2), dropout=0.0, name="resnet") -> keras.Model:
    """:func:`build_resnet_backbone` (named ``encoder``), global average pooling and a linear
    classifier: He et al.'s recipe for image classification.

    The backbone is the captioning and VQA encoder of the same ``filters`` and
    ``blocks_per_stage``; it is fully convolutional, so a classifier trained on small images
    gives its weights to an encoder of any input size (``kerasseq train captioning
    --encoder_weights RUN/export/model.keras`` reads the ``encoder`` layer).

    Args:
        input_shape: ``(height, width, channels)`` of the images (float pixels in [0, 255]).
        num_classes: classes of the linear head (its outputs are logits).
        filters: channels of each stage.
        blocks_per_stage: basic blocks in each stage.
        dropout: dropout rate before the head.
        name: the model's name.

    Example:
        >>> model = build_resnet_classifier((64, 64, 3), num_classes=10)
        >>> model.output.shape, model.get_layer("encoder").output.shape
        ((None, 10), (None, 4, 4, 128))
    """
    images = keras.Input(input_shape, name="images")
    encoder = build_resnet_backbone(input_shape, filters, blocks_per_stage, name="encoder")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(encoder(images))
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    logits = keras.layers.Dense(num_classes, name="head")(x)
    return keras.Model(images, logits, name=name)


def build_backbone(backbone, input_shape) -> keras.Model:
    """The backbone a detector builder was asked for.

    Args:
        backbone: ``"resnet"`` (:func:`build_resnet_backbone`) or any ``keras.Model`` from
            images to a feature map, used as it is: for example ImageNet's ResNet-50, as in
            DETR, with its own preprocessing in front (the detectors feed float pixels in
            [0, 255]).
        input_shape: ``(height, width, channels)`` of the images.

    Example:
        >>> images = keras.Input((512, 512, 3))
        >>> x = keras.applications.resnet.preprocess_input(images)
        >>> resnet = keras.applications.ResNet50(include_top=False, weights="imagenet")
        >>> backbone = build_backbone(keras.Model(images, resnet(x)), (512, 512, 3))
    """
    if isinstance(backbone, keras.Model):
        return backbone
    if backbone == "resnet":
        return build_resnet_backbone(input_shape)
    raise ValueError(f"Expected backbone to be 'resnet' or a keras.Model from images to a feature "
                     f"map. Received: backbone={backbone!r}")
