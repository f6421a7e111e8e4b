"""Bounding-box utilities on ``keras.ops`` (any backend): format conversion, area, IoU and
generalized IoU, pairwise and elementwise.

Boxes are the last axis of size 4, either ``(cx, cy, w, h)`` (centre and size, as DETR
predicts them) or ``(x0, y0, x1, y1)`` (corners, "xyxy"); any leading axes are batch axes.
"""

from __future__ import annotations

from keras import ops


def box_cxcywh_to_xyxy(boxes):
    """Centre-size boxes to corner boxes: ``(cx, cy, w, h) -> (cx − w/2, cy − h/2, cx + w/2,
    cy + h/2)``.

    Args:
        boxes: ``(..., 4)`` boxes as ``(cx, cy, w, h)``.

    Returns:
        ``(..., 4)`` boxes as ``(x0, y0, x1, y1)``.

    Example:
    >>> box_cxcywh_to_xyxy(np.array([[0.5, 0.5, 0.2, 0.4]]))  # [[0.4, 0.3, 0.6, 0.7]]
    """
    boxes = ops.convert_to_tensor(boxes)
    centre, size = boxes[..., :2], boxes[..., 2:]  # (..., 2) each
    return ops.concatenate([centre - 0.5 * size, centre + 0.5 * size], axis=-1)  # (..., 4)


def box_xyxy_to_cxcywh(boxes):
    """Corner boxes to centre-size boxes: ``(x0, y0, x1, y1) -> ((x0 + x1)/2, (y0 + y1)/2,
    x1 − x0, y1 − y0)``.

    Args:
        boxes: ``(..., 4)`` boxes as ``(x0, y0, x1, y1)``.

    Returns:
        ``(..., 4)`` boxes as ``(cx, cy, w, h)``.

    Example:
    >>> box_xyxy_to_cxcywh(np.array([[0.4, 0.3, 0.6, 0.7]]))  # [[0.5, 0.5, 0.2, 0.4]]
    """
    boxes = ops.convert_to_tensor(boxes)
    low, high = boxes[..., :2], boxes[..., 2:]  # (..., 2) each
    return ops.concatenate([0.5 * (low + high), high - low], axis=-1)  # (..., 4)


def box_area(boxes):
    """Area ``(x1 − x0)·(y1 − y0)`` of corner boxes.

    Args:
        boxes: ``(..., 4)`` boxes as ``(x0, y0, x1, y1)``.

    Returns:
        ``(...)`` areas.

    Example:
    >>> box_area(np.array([[0.0, 0.0, 2.0, 3.0]]))  # [6.0]
    """
    boxes = ops.convert_to_tensor(boxes)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])  # (...)


def _pairwise_iou_terms(a, b):
    """Intersection and union areas of every pair: ``(..., N, M)`` each."""
    a, b = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
    area_a, area_b = box_area(a), box_area(b)  # (..., N), (..., M)
    low = ops.maximum(a[..., :, None, :2], b[..., None, :, :2])  # (..., N, M, 2)
    high = ops.minimum(a[..., :, None, 2:], b[..., None, :, 2:])  # (..., N, M, 2)
    size = ops.maximum(high - low, 0.0)  # (..., N, M, 2)
    intersection = size[..., 0] * size[..., 1]  # (..., N, M)
    union = area_a[..., :, None] + area_b[..., None, :] - intersection  # (..., N, M)
    return intersection, union


def pairwise_box_iou(a, b):
    """Intersection over union of every box in ``a`` with every box in ``b``.

    IoU(A, B) = |A ∩ B| / |A ∪ B|, with |A ∪ B| = |A| + |B| − |A ∩ B|.

    Args:
        a: ``(..., N, 4)`` corner boxes ``(x0, y0, x1, y1)``.
        b: ``(..., M, 4)`` corner boxes, with the same leading (batch) axes as ``a``.

    Returns:
        ``(iou, union)``, both ``(..., N, M)``.

    Example:
    >>> iou, union = pairwise_box_iou(pred_xyxy, target_xyxy)  # (N, M) each
    """
    intersection, union = _pairwise_iou_terms(a, b)
    return intersection / union, union  # (..., N, M) each


def pairwise_generalized_box_iou(a, b):
    """Generalized IoU of every box in ``a`` with every box in ``b`` (Rezatofighi et al. 2019).

    GIoU(A, B) = IoU(A, B) − |C \\ (A ∪ B)| / |C|, where C is the smallest box enclosing both
    A and B. It lies in (−1, 1] and, unlike IoU, still says how far apart two disjoint boxes
    are; 1 − GIoU is DETR's box loss term. Boxes must be proper (x1 ≥ x0, y1 ≥ y0).

    Args:
        a: ``(..., N, 4)`` corner boxes ``(x0, y0, x1, y1)``.
        b: ``(..., M, 4)`` corner boxes, with the same leading (batch) axes as ``a``.

    Returns:
        ``(..., N, M)`` generalized IoU.

    Example:
    >>> giou = pairwise_generalized_box_iou(box_cxcywh_to_xyxy(pred), box_cxcywh_to_xyxy(gt))

    References:
        Rezatofighi et al. 2019, "Generalized intersection over union: a metric and a loss for
        bounding box regression", CVPR.
    """
    a, b = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
    intersection, union = _pairwise_iou_terms(a, b)  # (..., N, M) each
    low = ops.minimum(a[..., :, None, :2], b[..., None, :, :2])  # (..., N, M, 2)
    high = ops.maximum(a[..., :, None, 2:], b[..., None, :, 2:])  # (..., N, M, 2)
    size = ops.maximum(high - low, 0.0)  # (..., N, M, 2)
    enclosing = size[..., 0] * size[..., 1]  # (..., N, M)
    return intersection / union - (enclosing - union) / enclosing  # (..., N, M)


def generalized_box_iou(a, b):
    """Generalized IoU of corresponding boxes (elementwise; Rezatofighi et al. 2019).

    GIoU(A, B) = IoU(A, B) − |C \\ (A ∪ B)| / |C|, C the smallest box enclosing A and B.

    Args:
        a: ``(..., 4)`` corner boxes ``(x0, y0, x1, y1)``.
        b: ``(..., 4)`` corner boxes, the same shape as ``a``.

    Returns:
        ``(...)`` generalized IoU of each pair ``a[i], b[i]``.

    Example:
    >>> loss_giou = 1.0 - generalized_box_iou(matched_pred_xyxy, matched_target_xyxy)

    References:
        Rezatofighi et al. 2019, "Generalized intersection over union: a metric and a loss for
        bounding box regression", CVPR.
    """
    a, b = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
    inner = ops.maximum(ops.minimum(a[..., 2:], b[..., 2:]) - ops.maximum(a[..., :2], b[..., :2]), 0.0)  # (..., 2)
    intersection = inner[..., 0] * inner[..., 1]  # (...)
    union = box_area(a) + box_area(b) - intersection  # (...)
    outer = ops.maximum(ops.maximum(a[..., 2:], b[..., 2:]) - ops.minimum(a[..., :2], b[..., :2]), 0.0)  # (..., 2)
    enclosing = outer[..., 0] * outer[..., 1]  # (...)
    return intersection / union - (enclosing - union) / enclosing  # (...)
