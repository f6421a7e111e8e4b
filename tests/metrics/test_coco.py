"""COCO AP through pycocotools: perfect detections, hand-computed IoU and ranking cases, zero
detections, and the ground-truth JSON read back by pycocotools' own reader and evaluator."""

import numpy as np
import pytest

from kerasseq.data.detection import (coco_ground_truth, cxcywh_to_xyxy, make_canvases,
                                     write_coco_json)
from kerasseq.metrics import coco_evaluate
from kerasseq.metrics.coco import detections_to_coco

KEYS = {"AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR_100"}


def one_box_truth():
    """One 20 × 20 box of class "1" (category id 2) at (10, 10) on a 64-px image."""
    return {"images": [{"id": 1, "width": 64, "height": 64}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [10, 10, 20, 20],
                             "area": 400, "iscrowd": 0}],
            "categories": [{"id": 1, "name": "0"}, {"id": 2, "name": "1"}]}


@pytest.fixture(scope="module")
def canvases(data_dir):
    test = make_canvases(20, seed=0, split="test", data_dir=data_dir)
    truth = [{"boxes": cxcywh_to_xyxy(b[l >= 0]), "scores": np.ones((l >= 0).sum()),
              "labels": l[l >= 0]} for b, l in zip(test.boxes, test.labels)]
    return coco_ground_truth(test.boxes, test.labels, 128), truth


def test_ground_truth_as_detections_scores_one(canvases):
    gt, truth = canvases
    scores = coco_evaluate(gt, truth)
    assert set(scores) == KEYS and all(isinstance(v, float) for v in scores.values())
    for key in ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AR_100"):
        assert scores[key] == pytest.approx(1.0), key
    assert scores["AP_large"] == -1.0  # no digit is larger than 96² px on a 128-px canvas


def test_shifted_boxes_score_lower(canvases):
    gt, truth = canvases
    shifted = [{**t, "boxes": t["boxes"] + [3, 0, 3, 0]} for t in truth]
    scores = coco_evaluate(gt, shifted)
    assert 0.0 < scores["AP"] < 1.0 and scores["AP75"] < scores["AP50"]


def test_iou_thresholds_match_a_hand_computation():
    # Shifted 4 px: IoU = 16·20 / (400 + 400 − 320) = 2/3, a match at IoU 0.50–0.65 only:
    # 4 of COCO's 10 thresholds, so AP = 0.4, AP50 = 1, AP75 = 0.
    scores = coco_evaluate(one_box_truth(), [([[14, 10, 34, 30]], [0.9], [1])])
    assert scores["AP"] == pytest.approx(0.4) and scores["AP50"] == pytest.approx(1.0)
    assert scores["AP75"] == 0.0
    assert coco_evaluate(one_box_truth(), [([[10, 10, 30, 30]], [0.9], [0])])["AP"] == 0.0


def test_a_better_scored_false_positive_halves_the_precision():
    hit, miss = [10, 10, 30, 30], [40, 40, 60, 60]
    ranked = coco_evaluate(one_box_truth(), [([hit, miss], [0.9, 0.8], [1, 1])])
    misranked = coco_evaluate(one_box_truth(), [([hit, miss], [0.8, 0.9], [1, 1])])
    assert ranked["AP"] == pytest.approx(1.0) and misranked["AP"] == pytest.approx(0.5)


def test_zero_detections_score_zero(canvases, capsys):
    gt, truth = canvases
    empty = [{"boxes": np.zeros((0, 4)), "scores": [], "labels": []} for _ in truth]
    scores, summary = coco_evaluate(gt, empty, return_summary=True)
    assert scores["AP"] == 0.0 and scores["AR_100"] == 0.0 and "Average Precision" in summary
    assert capsys.readouterr().out == ""  # pycocotools' printing is captured
    half = truth[:10] + empty[10:]
    assert 0.0 < coco_evaluate(gt, half)["AR_100"] < 1.0
    coco_evaluate(gt, empty, verbose=True)
    assert "Average Recall" in capsys.readouterr().out


def test_json_round_trip_through_pycocotools(canvases, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, truth = canvases
    path = write_coco_json(tmp_path / "gt.json", *_padded(truth), 128)
    coco = COCO(str(path))
    assert len(coco.getImgIds()) == 20 and len(coco.getAnnIds()) == len(gt["annotations"])
    assert coco.loadCats(coco.getCatIds())[3] == {"id": 4, "name": "3", "supercategory": "digit"}
    np.testing.assert_allclose([a["bbox"] for a in coco.loadAnns(coco.getAnnIds())],
                               [a["bbox"] for a in gt["annotations"]])
    # pycocotools' standard flow (loadRes on result entries) agrees with coco_evaluate.
    rng = np.random.default_rng(0)
    noisy = [{**t, "boxes": t["boxes"] + rng.normal(0, 1.5, t["boxes"].shape),
              "scores": rng.uniform(size=len(t["labels"]))} for t in truth]
    evaluation = COCOeval(coco, coco.loadRes(detections_to_coco(gt, noisy)), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    ours = coco_evaluate(gt, noisy)
    assert 0.0 < ours["AP"] < 1.0
    assert ours["AP"] == pytest.approx(evaluation.stats[0])
    assert ours["AR_100"] == pytest.approx(evaluation.stats[8])


def _padded(truth):
    """Back to the dataset's normalised, -1-padded form."""
    boxes = np.zeros((len(truth), 6, 4))
    labels = np.full((len(truth), 6), -1)
    for i, t in enumerate(truth):
        xyxy = t["boxes"] / 128
        centre, size = (xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]
        boxes[i, :len(xyxy)] = np.concatenate([centre, size], 1)
        labels[i, :len(xyxy)] = t["labels"]
    return boxes, labels


def test_mismatched_detections_are_clear_errors(canvases):
    gt, truth = canvases
    with pytest.raises(ValueError, match="one detection entry per ground-truth image"):
        coco_evaluate(gt, truth[:3])
    with pytest.raises(ValueError, match=r"labels in \[0, 10\)"):
        coco_evaluate(gt, [{**t, "labels": t["labels"] + 10} for t in truth])
