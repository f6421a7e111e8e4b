"""What a trained DETR looks at and how its queries meet the objects: the decoder's
cross-attention of every object query over the image (Carion et al. 2020, Fig. 6), and the
Hungarian matching of queries to the objects of one canvas."""

from __future__ import annotations

import keras
import numpy as np


def _decoder_layers(model):
    layers = [layer for layer in model.layers if layer.name.startswith("decoder_layer_")]
    if not layers:
        raise ValueError(f"Expected a model from kerasseq.models.build_detr (layers named "
                         f"decoder_layer_<i>). Received: model {model.name!r}")
    return sorted(layers, key=lambda layer: int(layer.name.rsplit("_", 1)[1]))


def detr_cross_attention(model, images, layer: int = -1) -> np.ndarray:
    """The cross-attention weights of one decoder layer, averaged over heads, as a map over
    the backbone's feature grid for every object query.

    Args:
        model: a model built by :func:`kerasseq.models.build_detr`.
        images: ``(batch, H, W, channels)`` float pixels in [0, 255].
        layer: which decoder layer (default: the last).

    Returns:
        ``(batch, queries, h, w)``: for each query, its attention over the ``h × w`` cells of
        the feature map (each map sums to 1).

    Example:
    >>> maps = detr_cross_attention(model, images[:1])  # (1, 20, 8, 8)
    """
    decoders = _decoder_layers(model)
    chosen = decoders[layer]
    # DETR's forward pass up to the chosen decoder layer, layer by layer (as build_detr wires it).
    backbone = next(l for l in model.layers if isinstance(l, keras.Model))
    x = model.get_layer("input_projection")(backbone(np.asarray(images, "float32")))
    pos = model.get_layer("flatten_position")(model.get_layer("position_encoding")(x))
    memory = model.get_layer("flatten")(x)  # (batch, hw, d)
    encoders = sorted((l for l in model.layers if l.name.startswith("encoder_layer_")),
                      key=lambda l: int(l.name.rsplit("_", 1)[1]))
    for encoder in encoders:
        memory = encoder([memory, pos])
    if any(l.name == "encoder_norm" for l in model.layers):
        memory = model.get_layer("encoder_norm")(memory)
    query_pos = model.get_layer("object_queries")(memory)
    t = keras.ops.zeros_like(query_pos)
    for decoder in decoders:
        t, scores = decoder([t, memory, query_pos, pos], return_attention_scores=True)
        if decoder is chosen:
            break
    height, width = x.shape[1:3]
    weights = keras.ops.convert_to_numpy(scores).mean(axis=1)  # (batch, Q, hw)
    return weights.reshape(*weights.shape[:2], height, width)


def query_matching(model, loss, canvases, index: int = 0) -> dict:
    """The final decoder layer's predictions for one canvas and their Hungarian matching to its
    objects (as the set loss matches them).

    Args:
        model: a DETR from :func:`kerasseq.models.build_detr`.
        loss: its :class:`kerasseq.losses.DETRLoss` (the matching costs).
        canvases: a :class:`kerasseq.data.detection.DetectionSet`.
        index: which canvas.

    Returns:
        dict of NumPy arrays: ``image`` ``(S, S)``, ``target_boxes`` ``(T, 4)`` and
        ``target_labels`` ``(T,)`` (−1 = padding), predicted ``boxes`` ``(Q, 4)`` (normalised
        cx, cy, w, h), ``probabilities`` ``(Q, C + 1)`` and ``match`` ``(Q,)``: each query's
        target index, −1 when it predicts "no object".
    """
    from kerasseq.losses.detr import unpack_detr_predictions

    image = np.asarray(canvases.images[index:index + 1], "float32")[..., None]
    num_classes = loss.set_loss.num_classes
    logits, boxes = unpack_detr_predictions(model(image, training=False), num_classes)
    labels = np.asarray(canvases.labels[index:index + 1], "int32")
    targets = np.asarray(canvases.boxes[index:index + 1], "float32")
    match = loss.set_loss.match(logits[-1], boxes[-1], labels, targets)
    return {"image": np.asarray(canvases.images[index]), "target_boxes": targets[0],
            "target_labels": labels[0], "boxes": keras.ops.convert_to_numpy(boxes[-1])[0],
            "probabilities": keras.ops.convert_to_numpy(keras.ops.softmax(logits[-1]))[0],
            "match": keras.ops.convert_to_numpy(match)[0]}
