"""DETR's set prediction loss: Hungarian matching of queries to objects, then cross-entropy,
L1 and generalized-IoU box losses on every decoder layer (backend-agnostic)."""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.boxes import box_cxcywh_to_xyxy, generalized_box_iou, pairwise_generalized_box_iou
from kerasseq.losses.matching import linear_sum_assignment

_TERMS = ("loss_ce", "loss_bbox", "loss_giou", "cardinality_error")


def pack_detr_targets(labels, boxes):
    """Packs per-image targets into the one ``y_true`` tensor :class:`DETRLoss` takes.

    Args:
        labels: int ``(batch, max_targets)`` class ids, ``-1`` on padding (right padding).
        boxes: ``(batch, max_targets, 4)`` normalised ``(cx, cy, w, h)`` boxes.

    Returns:
        float32 ``(batch, max_targets, 5)``: ``(label, cx, cy, w, h)`` per target.

    Example:
    >>> y_true = pack_detr_targets(np.array([[3, -1]]), np.full((1, 2, 4), 0.5))  # (1, 2, 5)
    """
    labels = ops.cast(labels, "float32")[..., None]  # (B, T, 1)
    return ops.concatenate([labels, ops.cast(boxes, "float32")], axis=-1)  # (B, T, 5)


def unpack_detr_predictions(y_pred, num_classes):
    """Splits a packed DETR output into class logits and boxes, decoder layer first.

    Args:
        y_pred: ``(batch, layers, queries, num_classes + 1 + 4)``: the logits (last class =
            no-object) concatenated with the ``(cx, cy, w, h)`` boxes on the last axis.
        num_classes: number of object classes, without no-object.

    Returns:
        ``(logits, boxes)``: ``(layers, batch, queries, num_classes + 1)`` and
        ``(layers, batch, queries, 4)``.

    Example:
    >>> logits, boxes = unpack_detr_predictions(model(images), num_classes=91)
    """
    y_pred = ops.transpose(y_pred, (1, 0, 2, 3))  # (L, B, Q, C + 5)
    return y_pred[..., : num_classes + 1], y_pred[..., num_classes + 1 :]  # (L, B, Q, C + 1), (L, B, Q, 4)


class DETRSetLoss:
    """DETR's Hungarian set loss, with auxiliary losses on every decoder layer.

    Per decoder layer and image, the predictions ŷ_σ(i) are matched one-to-one to the targets
    y_i by the assignment σ minimising Σ_i L_match(y_i, ŷ_σ(i)) (:func:`linear_sum_assignment`),

        L_match = −class_cost·p̂(c_i) + bbox_cost·‖b_i − b̂‖₁ − giou_cost·GIoU(b_i, b̂),

    with p̂ the softmax probabilities and GIoU on corner boxes. Then, with N the number of
    target boxes in the batch (at least 1),

    - ``loss_ce`` = Σ_q w_q·(−log p̂_q(c_q)) / Σ_q w_q over all batch × queries, c_q the matched
      class or no-object (index ``num_classes``), w_q = ``no_object_weight`` for no-object
      and 1 otherwise;
    - ``loss_bbox`` = Σ_matched ‖b − b̂‖₁ / N (L1 summed over the 4 coordinates);
    - ``loss_giou`` = Σ_matched (1 − GIoU(b, b̂)) / N;
    - ``cardinality_error`` = mean over images of |#queries predicting an object − #targets|
      (a logged statistic, not trained on).

    The total is Σ over all layers of ``ce_weight·loss_ce + bbox_weight·loss_bbox +
    giou_weight·loss_giou``; each layer gets its own matching. Terms are named as in DETR:
    ``loss_ce`` … for the last layer, ``loss_ce_0`` … ``loss_ce_{L-2}`` for the others. The
    normalisation follows the Hugging Face ``transformers`` implementation (HungarianMatcher,
    ImageLoss). Computed in float32; traceable with a symbolic batch size (the matching is a
    host callback: under TensorFlow, compile with ``jit_compile=False``).

    Args:
        num_classes: number of object classes C; logits have C + 1 entries, the last being
            no-object.
        class_cost: weight of −p̂(class) in the matching cost.
        bbox_cost: weight of the L1 box distance in the matching cost.
        giou_cost: weight of −GIoU in the matching cost.
        ce_weight: weight of ``loss_ce`` in the total.
        bbox_weight: weight of ``loss_bbox`` in the total.
        giou_weight: weight of ``loss_giou`` in the total.
        no_object_weight: class weight of no-object in the cross-entropy.

    Call arguments:
        pred_logits: ``(layers, batch, queries, num_classes + 1)`` class logits.
        pred_boxes: ``(layers, batch, queries, 4)`` normalised ``(cx, cy, w, h)`` boxes (after
            the sigmoid).
        target_labels: int ``(batch, max_targets)``, ``-1`` on padding (right padding: real
            targets first).
        target_boxes: ``(batch, max_targets, 4)`` normalised ``(cx, cy, w, h)``; padding rows
            may hold anything.

    Returns (from a call):
        ``(total_loss, terms)``: a scalar and a dict of scalars.

    Example:
    >>> set_loss = DETRSetLoss(num_classes=91)
    >>> total, terms = set_loss(logits, boxes, labels, target_boxes)  # logits (6, B, 100, 92)
    >>> terms["loss_giou"], terms["cardinality_error_0"]

    References:
        Carion et al. 2020, "End-to-end object detection with transformers", ECCV, §3.1 and
        appendix A.2; Rezatofighi et al. 2019, "Generalized intersection over union", CVPR.
    """

    def __init__(self, num_classes, class_cost=1.0, bbox_cost=5.0, giou_cost=2.0, ce_weight=1.0,
                 bbox_weight=5.0, giou_weight=2.0, no_object_weight=0.1):
        if int(num_classes) < 1:
            raise ValueError(f"Expected num_classes >= 1. Received: num_classes={num_classes}")
        if class_cost == 0 and bbox_cost == 0 and giou_cost == 0:
            raise ValueError("Expected a nonzero matching cost weight. Received: class_cost=0, bbox_cost=0, "
                             "giou_cost=0")
        self.num_classes = int(num_classes)
        self.class_cost = class_cost
        self.bbox_cost = bbox_cost
        self.giou_cost = giou_cost
        self.ce_weight = ce_weight
        self.bbox_weight = bbox_weight
        self.giou_weight = giou_weight
        self.no_object_weight = no_object_weight

    @staticmethod
    def _targets(target_labels, target_boxes):
        """Integer labels, the validity mask, and padding boxes replaced by a harmless box."""
        labels = ops.cast(target_labels, "int32")  # (B, T)
        valid = labels >= 0  # (B, T)
        # Padding rows may hold anything (NaN included); a NaN there would reach the gradient.
        boxes = ops.where(valid[..., None], ops.cast(target_boxes, "float32"), 0.5)  # (B, T, 4)
        return labels, valid, boxes

    def _match(self, logits, boxes, labels, valid, target_boxes):
        probs = ops.softmax(logits, axis=-1)  # (B, Q, C + 1)
        class_cost = -ops.einsum("bqc,btc->bqt", probs, ops.one_hot(ops.maximum(labels, 0), self.num_classes + 1))  # (B, Q, T)
        bbox_cost = ops.sum(ops.abs(boxes[:, :, None, :] - target_boxes[:, None, :, :]), axis=-1)  # (B, Q, T)
        giou_cost = -pairwise_generalized_box_iou(box_cxcywh_to_xyxy(boxes), box_cxcywh_to_xyxy(target_boxes))  # (B, Q, T)
        cost = self.bbox_cost * bbox_cost + self.class_cost * class_cost + self.giou_cost * giou_cost  # (B, Q, T)
        counts = ops.sum(ops.cast(valid, "int32"), axis=-1)  # (B,)
        return linear_sum_assignment(cost, counts)  # (B, Q)

    def match(self, pred_logits, pred_boxes, target_labels, target_boxes):
        """The Hungarian assignment of one decoder layer's queries to the targets.

        Args:
            pred_logits: ``(batch, queries, num_classes + 1)`` class logits.
            pred_boxes: ``(batch, queries, 4)`` normalised ``(cx, cy, w, h)`` boxes.
            target_labels: int ``(batch, max_targets)``, ``-1`` on padding.
            target_boxes: ``(batch, max_targets, 4)`` normalised ``(cx, cy, w, h)``.

        Returns:
            int32 ``(batch, queries)``: each query's matched target index, or -1.
        """
        labels, valid, target_boxes = self._targets(target_labels, target_boxes)
        logits = ops.cast(pred_logits, "float32")  # (B, Q, C + 1)
        return self._match(logits, ops.cast(pred_boxes, "float32"), labels, valid, target_boxes)  # (B, Q)

    def _layer_terms(self, logits, boxes, labels, valid, target_boxes):
        """The four terms of one decoder layer: logits (B, Q, C + 1), boxes (B, Q, 4)."""
        assignment = self._match(logits, boxes, labels, valid, target_boxes)  # (B, Q)
        matched = assignment >= 0  # (B, Q)
        index = ops.maximum(assignment, 0)  # (B, Q): unmatched queries read target 0, masked below
        num_boxes = ops.maximum(ops.sum(ops.cast(valid, "float32")), 1.0)  # ()

        # Cross-entropy against the matched class, or no-object, with no-object down-weighted.
        no_object = self.num_classes
        target_class = ops.where(matched, ops.take_along_axis(labels, index, axis=1), no_object)  # (B, Q)
        log_probs = ops.log_softmax(logits, axis=-1)  # (B, Q, C + 1)
        nll = -ops.take_along_axis(log_probs, target_class[..., None], axis=-1)[..., 0]  # (B, Q)
        weight = ops.where(matched, 1.0, self.no_object_weight)  # (B, Q): matched <=> not no-object
        loss_ce = ops.sum(weight * nll) / ops.sum(weight)

        # Box losses over the matched pairs only.
        # Unmatched queries read a real target or the padding box: finite, so masking them
        # out below also zeroes their gradient.
        matched_targets = ops.take_along_axis(target_boxes, ops.repeat(index[..., None], 4, axis=-1), axis=1)  # (B, Q, 4)
        l1 = ops.sum(ops.abs(boxes - matched_targets), axis=-1)  # (B, Q)
        loss_bbox = ops.sum(ops.where(matched, l1, 0.0)) / num_boxes
        giou = generalized_box_iou(box_cxcywh_to_xyxy(boxes), box_cxcywh_to_xyxy(matched_targets))  # (B, Q)
        loss_giou = ops.sum(ops.where(matched, 1.0 - giou, 0.0)) / num_boxes

        predicts_object = ops.argmax(logits, axis=-1) != no_object  # (B, Q)
        cardinality = ops.sum(ops.cast(predicts_object, "float32"), axis=-1)  # (B,)
        targets_per_image = ops.sum(ops.cast(valid, "float32"), axis=-1)  # (B,)
        cardinality_error = ops.mean(ops.abs(cardinality - targets_per_image))
        return {"loss_ce": loss_ce, "loss_bbox": loss_bbox, "loss_giou": loss_giou,
                "cardinality_error": ops.stop_gradient(cardinality_error)}

    def __call__(self, pred_logits, pred_boxes, target_labels, target_boxes):
        labels, valid, target_boxes = self._targets(target_labels, target_boxes)
        pred_logits = ops.cast(pred_logits, "float32")  # (L, B, Q, C + 1)
        pred_boxes = ops.cast(pred_boxes, "float32")  # (L, B, Q, 4)
        num_layers = pred_logits.shape[0]
        if num_layers is None:
            raise ValueError(f"Expected a static number of decoder layers. Received: pred_logits.shape={pred_logits.shape}")
        total, terms = 0.0, {}
        for layer in range(num_layers):
            layer_terms = self._layer_terms(pred_logits[layer], pred_boxes[layer], labels, valid, target_boxes)
            total = total + (self.ce_weight * layer_terms["loss_ce"] + self.bbox_weight * layer_terms["loss_bbox"]
                             + self.giou_weight * layer_terms["loss_giou"])
            suffix = "" if layer == num_layers - 1 else f"_{layer}"
            terms.update({f"{name}{suffix}": value for name, value in layer_terms.items()})
        return total, terms

    def get_config(self):
        return {"num_classes": self.num_classes, "class_cost": self.class_cost, "bbox_cost": self.bbox_cost,
                "giou_cost": self.giou_cost, "ce_weight": self.ce_weight, "bbox_weight": self.bbox_weight,
                "giou_weight": self.giou_weight, "no_object_weight": self.no_object_weight}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="kerasseq")
class DETRLoss(keras.losses.Loss):
    """:class:`DETRSetLoss` as a Keras loss for ``model.compile(loss=...)``: returns the total.

    The model's output packs every decoder layer's logits and boxes (see
    :func:`unpack_detr_predictions`), the targets pack labels and boxes (see
    :func:`pack_detr_targets`). The value is the scalar total of :class:`DETRSetLoss`; the
    reduction has nothing left to reduce. On TensorFlow compile with ``jit_compile=False``
    (the Hungarian matching is a host call XLA cannot compile, and Keras' default ``"auto"``
    picks XLA there); on JAX ``jit_compile=True`` works.

    ``y_true``: ``(batch, max_targets, 5)`` = ``(label, cx, cy, w, h)``, label ``-1`` on
    padding (right padding). ``y_pred``: ``(batch, layers, queries, num_classes + 1 + 4)`` =
    logits (last class = no-object) then sigmoid boxes ``(cx, cy, w, h)``, last layer last.

    Args:
        num_classes: number of object classes, without no-object.
        class_cost, bbox_cost, giou_cost: matching cost weights (see :class:`DETRSetLoss`).
        ce_weight, bbox_weight, giou_weight: loss term weights.
        no_object_weight: class weight of no-object in the cross-entropy.
        aux_loss: the loss on every decoder layer's output (DETR's auxiliary decoding
            losses); ``False``: on the last layer only (the paper's ablation).
        name: loss name.
        reduction: Keras reduction (the value is already a scalar).
        dtype: dtype of the returned value (the loss itself is computed in float32).

    Example:
    >>> model.compile("adamw", loss=DETRLoss(num_classes=91), jit_compile=False)  # on TF
    >>> model.fit(images, pack_detr_targets(labels, boxes))

    References:
        Carion et al. 2020, "End-to-end object detection with transformers", ECCV.
    """

    def __init__(self, num_classes, class_cost=1.0, bbox_cost=5.0, giou_cost=2.0, ce_weight=1.0, bbox_weight=5.0,
                 giou_weight=2.0, no_object_weight=0.1, aux_loss=True, name="detr_loss",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.aux_loss = bool(aux_loss)
        self.set_loss = DETRSetLoss(num_classes, class_cost=class_cost, bbox_cost=bbox_cost, giou_cost=giou_cost,
                                    ce_weight=ce_weight, bbox_weight=bbox_weight, giou_weight=giou_weight,
                                    no_object_weight=no_object_weight)

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.round(y_true[..., 0]), "int32")  # (B, T): `Loss.__call__` made it a float
        if not self.aux_loss:
            y_pred = y_pred[:, -1:]  # (B, 1, Q, C + 5): the final decoder layer only
        logits, boxes = unpack_detr_predictions(y_pred, self.set_loss.num_classes)  # (L, B, Q, C + 1), (L, B, Q, 4)
        total, _ = self.set_loss(logits, boxes, labels, y_true[..., 1:])
        return ops.cast(total, self.dtype)  # ()

    def get_config(self):
        return {**self.set_loss.get_config(), "aux_loss": self.aux_loss, "name": self.name, "reduction": self.reduction, "dtype": self.dtype}
