"""COCO box detection metrics (AP over IoU 0.5:0.95, AP50, AP75, by size, AR@100), by
pycocotools' own ``COCOeval``, so the figures are the ones every detection paper reports."""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Mapping

import numpy as np

# COCOeval.stats positions of the figures returned (pycocotools' summarize order).
_STATS = {"AP": 0, "AP50": 1, "AP75": 2, "AP_small": 3, "AP_medium": 4, "AP_large": 5,
          "AR_100": 8}


def _as_arrays(detection, image: int):
    if isinstance(detection, Mapping):
        try:
            boxes, scores, labels = (detection[k] for k in ("boxes", "scores", "labels"))
        except KeyError as exc:
            raise ValueError(f"Expected detections with keys 'boxes', 'scores', 'labels'. "
                             f"Received: image {image} without {exc}") from None
    else:
        boxes, scores, labels = detection
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if not len(boxes) == len(scores) == len(labels):
        raise ValueError(f"Expected as many boxes, scores and labels. Received: image {image} "
                         f"with {len(boxes)} boxes, {len(scores)} scores, {len(labels)} labels")
    return boxes, scores, labels


def detections_to_coco(ground_truth: dict, detections) -> list[dict]:
    """COCO result entries (``image_id``, ``category_id``, ``bbox`` ``[x, y, w, h]``,
    ``score``) for per-image detections; see :func:`coco_evaluate` for the format.

    Example:
    >>> gt = {"images": [{"id": 1}], "categories": [{"id": 1}, {"id": 2}]}
    >>> detections_to_coco(gt, [{"boxes": [[0, 0, 4, 2]], "scores": [0.9], "labels": [1]}])
    [{'image_id': 1, 'category_id': 2, 'bbox': [0.0, 0.0, 4.0, 2.0], 'score': 0.9}]
    """
    images, categories = ground_truth["images"], ground_truth["categories"]
    if len(detections) != len(images):
        raise ValueError(f"Expected one detection entry per ground-truth image. Received: "
                         f"{len(detections)} entries for {len(images)} images")
    results = []
    for i, (image, detection) in enumerate(zip(images, detections)):
        boxes, scores, labels = _as_arrays(detection, i)
        if len(labels) and (labels.min() < 0 or labels.max() >= len(categories)):
            raise ValueError(f"Expected labels in [0, {len(categories)}) (positions in "
                             f"ground_truth['categories']). Received: image {i} with labels "
                             f"{sorted(set(labels.tolist()))}")
        for (x0, y0, x1, y1), score, label in zip(boxes, scores, labels):
            results.append({"image_id": image["id"],
                            "category_id": categories[int(label)]["id"],
                            "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                            "score": float(score)})
    return results


def coco_evaluate(ground_truth: dict, detections, verbose: bool = False,
                  return_summary: bool = False):
    """COCO bounding-box AP and AR of detections, computed by pycocotools' ``COCOeval``.

    Area ranges are COCO's, in pixels: small < 32², medium 32²–96², large > 96² (box area).
    On the 128-px detection canvases (digits 16–48 px, see :mod:`kerasseq.data.detection`)
    objects are small or medium, never large, so ``AP_large`` is -1.

    Args:
        ground_truth: a COCO-format dict (``images``, ``annotations`` with ``bbox``, ``area``,
            ``iscrowd``, ``categories``), e.g. from
            :func:`kerasseq.data.detection.coco_ground_truth`.
        detections: one entry per ground-truth image, in the order of
            ``ground_truth["images"]``: a dict ``{"boxes": (k, 4), "scores": (k,),
            "labels": (k,)}`` or a tuple ``(boxes, scores, labels)``. Boxes are pixel
            ``(x0, y0, x1, y1)``; labels are positions in ``ground_truth["categories"]``
            (for the digit canvases, the digit 0–9: label ``d`` is category id ``d + 1``).
            ``k`` may be 0. COCO keeps the 100 highest-scoring boxes per image.
        verbose: print pycocotools' usual summary table (captured either way).
        return_summary: also return that table as text.

    Returns:
        ``{"AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR_100"}`` as floats
        in [0, 1]; -1.0 where the ground truth has no object of that size (pycocotools'
        convention); with ``return_summary``, ``(scores, summary_text)``.

    Example:
    >>> gt = {"images": [{"id": 1, "width": 64, "height": 64}],
    ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
    ...                        "bbox": [8, 8, 20, 30], "area": 600, "iscrowd": 0}],
    ...       "categories": [{"id": 1, "name": "0"}]}
    >>> scores = coco_evaluate(gt, [{"boxes": [[8, 8, 28, 38]], "scores": [0.9], "labels": [0]}])
    >>> round(scores["AP"], 6), scores["AP_large"]
    (1.0, -1.0)
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    results = detections_to_coco(ground_truth, detections)
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        gt = COCO()
        gt.dataset = copy.deepcopy(dict(ground_truth))
        gt.createIndex()
        # Built as COCO.loadRes builds it, which fails on an empty result list.
        dt = COCO()
        annotations = []
        for i, result in enumerate(results):
            w, h = result["bbox"][2:]
            annotations.append({**result, "id": i + 1, "area": w * h, "iscrowd": 0})
        dt.dataset = {"images": copy.deepcopy(ground_truth["images"]),
                      "categories": copy.deepcopy(ground_truth["categories"]),
                      "annotations": annotations}
        dt.createIndex()
        evaluation = COCOeval(gt, dt, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    summary = text.getvalue()
    if verbose:
        print(summary, end="")
    scores = {name: float(evaluation.stats[i]) for name, i in _STATS.items()}
    return (scores, summary) if return_summary else scores
