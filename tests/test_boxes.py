"""kerasseq.boxes against plain NumPy: conversions, area, IoU and generalized IoU."""

import keras
import numpy as np

from kerasseq.boxes import (box_area, box_cxcywh_to_xyxy, box_xyxy_to_cxcywh, generalized_box_iou,
                            pairwise_box_iou, pairwise_generalized_box_iou)


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _random_xyxy(rng, shape):
    low = rng.uniform(0.0, 0.7, size=(*shape, 2))
    return np.concatenate([low, low + rng.uniform(0.05, 0.5, size=(*shape, 2))], -1).astype("float32")


def _numpy_iou_giou(a, b):
    """IoU, union and GIoU of two single boxes, written out."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih
    enclosing = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    return iw * ih / union, union, iw * ih / union - (enclosing - union) / enclosing


def test_conversions_invert_each_other_and_area():
    cxcywh = np.array([[0.5, 0.5, 0.2, 0.4], [0.1, 0.9, 0.2, 0.2]], "float32")
    xyxy = np.array([[0.4, 0.3, 0.6, 0.7], [0.0, 0.8, 0.2, 1.0]], "float32")
    np.testing.assert_allclose(_numpy(box_cxcywh_to_xyxy(cxcywh)), xyxy, atol=1e-6)
    np.testing.assert_allclose(_numpy(box_xyxy_to_cxcywh(xyxy)), cxcywh, atol=1e-6)
    np.testing.assert_allclose(_numpy(box_area(xyxy)), [0.08, 0.04], rtol=1e-5)
    batched = _random_xyxy(np.random.default_rng(0), (2, 3))  # leading axes pass through
    np.testing.assert_allclose(_numpy(box_cxcywh_to_xyxy(box_xyxy_to_cxcywh(batched))), batched, atol=1e-6)


def test_known_values():
    a = np.array([[0, 0, 2, 2], [1, 1, 3, 3]], "float32")
    b = np.array([[1, 1, 2, 2], [4, 4, 5, 5], [0, 0, 2, 2]], "float32")
    iou, union = pairwise_box_iou(a, b)
    np.testing.assert_allclose(_numpy(iou), [[0.25, 0, 1], [0.25, 0, 1 / 7]], rtol=1e-6)
    np.testing.assert_allclose(_numpy(union), [[4, 5, 4], [4, 5, 7]], rtol=1e-6)
    # Disjoint boxes: IoU 0, GIoU −|C \ (A ∪ B)| / |C| = −(25 − 5) / 25, still graded by distance.
    np.testing.assert_allclose(_numpy(pairwise_generalized_box_iou(a, b))[0, 1], -0.8, rtol=1e-6)
    np.testing.assert_allclose(_numpy(generalized_box_iou(a, a)), [1, 1], rtol=1e-6)


def test_pairwise_and_elementwise_match_numpy_with_batch_axes():
    rng = np.random.default_rng(1)
    a, b = _random_xyxy(rng, (2, 3)), _random_xyxy(rng, (2, 4))  # (batch, N, 4), (batch, M, 4)
    expected = np.array([[[_numpy_iou_giou(a[n, i], b[n, j]) for j in range(4)] for i in range(3)]
                         for n in range(2)])  # (batch, N, M, 3)
    iou, union = pairwise_box_iou(a, b)
    np.testing.assert_allclose(_numpy(iou), expected[..., 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_numpy(union), expected[..., 1], rtol=1e-5)
    giou = _numpy(pairwise_generalized_box_iou(a, b))
    assert giou.shape == (2, 3, 4) and (giou < 0).any()  # some disjoint pairs are in the sample
    np.testing.assert_allclose(giou, expected[..., 2], rtol=1e-5, atol=1e-6)
    elementwise = _numpy(generalized_box_iou(a, b[:, :3]))  # (batch, N)
    np.testing.assert_allclose(elementwise, np.diagonal(expected[..., 2][:, :, :3], axis1=1, axis2=2),
                               rtol=1e-5, atol=1e-6)
