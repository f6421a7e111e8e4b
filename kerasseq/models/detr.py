"""DETR (Carion et al., ECCV 2020): detection as direct set prediction.

A CNN backbone, a 1×1 projection to d_model, a Transformer encoder over the flattened feature
map and a decoder of N learned object queries; class logits (C classes + "no object") and
boxes (a 3-layer MLP with a sigmoid: normalised cx, cy, w, h) from every decoder layer, by
heads shared across layers. Train with :class:`kerasseq.losses.DETRLoss` (Hungarian matching
plus the set loss, on every decoder layer's output); read detections with
:func:`decode_detr`.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.boxes import box_cxcywh_to_xyxy
from kerasseq.layers.detr import (DETRDecoderLayer, DETREncoderLayer, ObjectQueries,
                                  SinePositionEmbedding2D)
from kerasseq.models.backbones import build_backbone


def build_detr(num_classes: int, input_shape=(128, 128, 1), backbone="resnet", d_model: int = 128,
               num_heads: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
               intermediate_dim: int = 512, num_queries: int = 20, dropout: float = 0.1,
               norm_first: bool = False, seed=None, name: str = "detr") -> keras.Model:
    """DETR: backbone, Transformer encoder-decoder with object queries, shared heads.

    The 2-D sine position encoding is added to the queries and keys of every attention layer
    and the object queries to every decoder layer's queries, as in the paper; the decoder's
    outputs all pass the same final LayerNorm and the same heads (auxiliary decoding losses).

    Args:
        num_classes: C, the object classes (class index C is "no object").
        input_shape: ``(height, width, channels)``; images are float pixels in [0, 255].
        backbone: ``"resnet"`` (a small ResNet of output stride 16,
            :func:`kerasseq.models.backbones.build_resnet_backbone`) or a ``keras.Model`` from
            images to a feature map, e.g. ImageNet's ResNet-50 as in the paper.
        d_model: width of the Transformer (the paper: 256).
        num_heads: attention heads (8).
        num_encoder_layers / num_decoder_layers: depths (6 / 6).
        intermediate_dim: width of the feed-forward networks (2048).
        num_queries: N, the predictions per image (100 on COCO; more than the most objects).
        dropout: of the Transformer (0.1).
        norm_first: pre-LN instead of DETR's post-LN.
        seed: of the dropout layers.
        name: the model's name.

    Returns:
        A ``keras.Model`` from images ``(batch, H, W, channels)`` to ``(batch, layers, queries,
        C + 1 + 4)``: for each decoder layer (the last is the final prediction) and query, the
        class logits followed by the box (cx, cy, w, h) in [0, 1]. Split it with
        :func:`split_detr_outputs`, decode it with :func:`decode_detr`.

    Example:
    >>> model = build_detr(num_classes=10, input_shape=(128, 128, 1))
    >>> model.compile(optimizer=keras.optimizers.AdamW(1e-4, weight_decay=1e-4, clipnorm=0.1),
    ...               loss=kerasseq.losses.DETRLoss(num_classes=10))

    References:
        Carion et al. 2020, "End-to-end object detection with Transformers", ECCV.
    """
    if d_model % 4:
        raise ValueError(f"Expected d_model to be a multiple of 4 (the 2-D sine encoding). "
                         f"Received: d_model={d_model}")
    images = keras.Input(input_shape, name="images")
    features = build_backbone(backbone, input_shape)(images)  # (batch, h, w, channels)
    height, width = features.shape[1:3]
    x = keras.layers.Conv2D(d_model, 1, name="input_projection")(features)  # (batch, h, w, d)
    pos = SinePositionEmbedding2D(name="position_encoding")(x)
    memory = keras.layers.Reshape((height * width, d_model), name="flatten")(x)  # (batch, hw, d)
    pos = keras.layers.Reshape((height * width, d_model), name="flatten_position")(pos)

    common = dict(num_heads=num_heads, intermediate_dim=intermediate_dim, dropout=dropout,
                  norm_first=norm_first)
    for i in range(num_encoder_layers):
        memory = DETREncoderLayer(**common, seed=None if seed is None else seed + i,
                                  name=f"encoder_layer_{i}")([memory, pos])
    if norm_first:
        memory = keras.layers.LayerNormalization(epsilon=1e-5, name="encoder_norm")(memory)

    query_pos = ObjectQueries(num_queries, d_model, name="object_queries")(memory)
    t = ops.zeros_like(query_pos)  # (batch, queries, d): the decoder starts from zeros
    outputs = []
    for i in range(num_decoder_layers):
        t = DETRDecoderLayer(**common, seed=None if seed is None else seed + 100 + i,
                             name=f"decoder_layer_{i}")([t, memory, query_pos, pos])
        outputs.append(keras.layers.Reshape((1, num_queries, d_model),
                                            name=f"decoder_output_{i}")(t))
    hidden = outputs[0] if len(outputs) == 1 else keras.layers.Concatenate(
        axis=1, name="decoder_outputs")(outputs)  # (batch, layers, queries, d)
    hidden = keras.layers.LayerNormalization(epsilon=1e-5, name="decoder_norm")(hidden)

    logits = keras.layers.Dense(num_classes + 1, name="class_head")(hidden)
    b = keras.layers.Dense(d_model, activation="relu", name="box_head_1")(hidden)
    b = keras.layers.Dense(d_model, activation="relu", name="box_head_2")(b)
    boxes = keras.layers.Dense(4, activation="sigmoid", name="box_head_3")(b)
    predictions = keras.layers.Concatenate(name="predictions")([logits, boxes])
    return keras.Model(images, predictions, name=name)


def split_detr_outputs(outputs, num_classes: int):
    """``(logits (..., C + 1), boxes (..., 4))`` of DETR's packed outputs."""
    return outputs[..., : num_classes + 1], outputs[..., num_classes + 1:]


def decode_detr(outputs, num_classes: int, layer: int = -1):
    """Detections of one decoder layer (default: the final one), as DETR's post-processing.

    Each query gives one detection: its most probable real class (the "no object" class
    excluded), with that probability as score, and its box. There is no non-maximum
    suppression: the set loss teaches the queries not to duplicate.

    Args:
        outputs: the model's ``(batch, layers, queries, C + 5)``.
        num_classes: C.
        layer: which decoder layer.

    Returns:
        dict of ``boxes`` ``(batch, queries, 4)`` normalised ``(x1, y1, x2, y2)`` clipped to
        [0, 1], ``scores`` ``(batch, queries)`` and ``labels`` ``(batch, queries)`` int32.
    """
    logits, boxes = split_detr_outputs(outputs[:, layer], num_classes)
    probabilities = ops.softmax(logits, axis=-1)[..., :num_classes]  # (batch, queries, C)
    return {"boxes": ops.clip(box_cxcywh_to_xyxy(boxes), 0.0, 1.0),
            "scores": ops.max(probabilities, axis=-1),
            "labels": ops.cast(ops.argmax(probabilities, axis=-1), "int32")}
