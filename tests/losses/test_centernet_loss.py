"""CenterNetLoss: CornerNet's radius, the heatmaps of CenterNet's ``draw_umich_gaussian``, the
focal loss and the total against NumPy references, padding and empty images, config round trip.

(The compiled ``fit`` and the ``.keras`` round trip with this loss: tests/models/test_centernet.py.)"""

import math

import keras
import numpy as np
import pytest

from kerasseq.losses import CenterNetLoss, centernet_focal_loss, render_centernet_targets
from kerasseq.losses.centernet import gaussian_radius


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _reference_radius(height, width, min_overlap=0.7):
    """CenterNet's ``gaussian_radius`` (src/lib/utils/image.py), verbatim."""
    a1, b1 = 1, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + np.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2 = 4, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + np.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + np.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def _reference_heatmap(y_true, height, width, num_classes):
    """CenterNet's ctdet targets (``draw_umich_gaussian`` on a NumPy grid), one object at a time."""
    heatmap = np.zeros((len(y_true), height, width, num_classes), "float32")
    for b, image in enumerate(y_true):
        for label, cx, cy, w, h in image:
            if label < 0:
                continue
            radius = max(0, int(_reference_radius(math.ceil(h * height), math.ceil(w * width))))
            diameter = 2 * radius + 1
            y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
            gaussian = np.exp(-(x * x + y * y) / (2 * (diameter / 6) ** 2))
            ix, iy = int(cx * width), int(cy * height)
            left, right = min(ix, radius), min(width - ix, radius + 1)
            top, bottom = min(iy, radius), min(height - iy, radius + 1)
            window = heatmap[b, iy - top:iy + bottom, ix - left:ix + right, int(label)]
            cut = gaussian[radius - top:radius + bottom, radius - left:radius + right]
            np.maximum(window, cut, out=window)
    return heatmap


def _reference_focal(heatmap, logits):
    p = 1.0 / (1.0 + np.exp(-logits.astype("float64")))
    positive = heatmap == 1.0
    loss = np.where(positive, (1 - p) ** 2 * np.log(p), (1 - heatmap) ** 4 * p ** 2 * np.log(1 - p))
    return -loss.sum()


# Image 0: two overlapping objects of class 1 (their Gaussians meet by the maximum), one of
# class 0 near the corner (its window is cut by the border), one padding row holding garbage.
# Image 1: no objects.
Y_TRUE = np.array([
    [[1, 0.40, 0.45, 0.50, 0.40], [1, 0.60, 0.55, 0.30, 0.30], [0, 0.02, 0.97, 0.30, 0.30],
     [-1, np.nan, 7.0, -3.0, 0.0]],
    [[-1, 0, 0, 0, 0]] * 4,
], "float32")


def test_gaussian_radius_is_cornernets():
    sizes = [(4.0, 4.0), (12.0, 12.0), (3.0, 10.0), (1.0, 1.0), (25.0, 7.0)]
    ours = _numpy(gaussian_radius(np.array([h for h, _ in sizes]), np.array([w for _, w in sizes])))
    np.testing.assert_allclose(ours, [_reference_radius(h, w) for h, w in sizes], rtol=1e-5)
    assert [int(r) for r in ours] == [1, 3, 1, 0, 3]


def test_rendered_targets_match_centernet():
    targets = {k: _numpy(v) for k, v in render_centernet_targets(Y_TRUE, 16, 20, 3).items()}
    expected = _reference_heatmap(Y_TRUE, 16, 20, 3)
    assert targets["heatmap"].shape == (2, 16, 20, 3)
    np.testing.assert_allclose(targets["heatmap"], expected, atol=1e-6)
    assert expected[0, ..., 1].max() == 1.0 and (expected[0, ..., 1] == 1.0).sum() == 2
    assert not targets["heatmap"][1].any() and not targets["heatmap"][0, ..., 2].any()
    np.testing.assert_array_equal(targets["mask"], [[1, 1, 1, 0], [0, 0, 0, 0]])
    # centre cells ⌊cy·16⌋·20 + ⌊cx·20⌋ and the sub-cell offsets
    np.testing.assert_array_equal(targets["indices"][0, :3], [7 * 20 + 8, 8 * 20 + 12, 15 * 20 + 0])
    np.testing.assert_allclose(targets["offset"][0, :3], [[0.0, 0.2], [0.0, 0.8], [0.4, 0.52]], atol=1e-5)
    np.testing.assert_allclose(targets["size"][0, :3], Y_TRUE[0, :3, 3:], atol=1e-7)
    assert np.isfinite(targets["size"]).all() and np.isfinite(targets["offset"]).all()


def test_focal_loss_matches_numpy():
    heatmap = np.array([[[[1.0, 0.0], [0.5, 0.0], [0.0, 0.25]],
                         [[0.8, 1.0], [0.0, 0.0], [0.1, 0.0]]]], "float32")  # (1, 2, 3, 2)
    logits = np.random.default_rng(0).normal(scale=2.0, size=heatmap.shape).astype("float32")
    np.testing.assert_allclose(_numpy(centernet_focal_loss(heatmap, logits)),
                               _reference_focal(heatmap, logits), rtol=1e-5)
    # a perfect, confident prediction costs almost nothing
    confident = np.where(heatmap == 1.0, 12.0, -12.0).astype("float32")
    assert _numpy(centernet_focal_loss(heatmap, confident)) < 1e-6


def test_loss_is_focal_plus_weighted_l1_at_the_centres():
    rng = np.random.default_rng(1)
    y_pred = rng.normal(size=(2, 16, 20, 3 + 4)).astype("float32")
    loss = _numpy(CenterNetLoss(3, size_weight=0.3, offset_weight=2.0)(Y_TRUE, y_pred))

    heatmap = _reference_heatmap(Y_TRUE, 16, 20, 3)
    focal = _reference_focal(heatmap, y_pred[..., :3]) / 3  # three objects
    size = offset = 0.0
    for label, cx, cy, w, h in Y_TRUE[0, :3]:
        ix, iy = int(cx * 20), int(cy * 16)
        size += np.abs(y_pred[0, iy, ix, 3:5] - [w, h]).mean()
        offset += np.abs(y_pred[0, iy, ix, 5:7] - [cx * 20 - ix, cy * 16 - iy]).mean()
    np.testing.assert_allclose(loss, focal + 0.3 * size / 3 + 2.0 * offset / 3, rtol=1e-5)

    # padding rows change nothing, wherever they are and whatever they hold
    shuffled = np.concatenate([Y_TRUE[:, ::-1], np.full((2, 2, 5), -1.0, "float32")], axis=1)
    np.testing.assert_allclose(_numpy(CenterNetLoss(3, 0.3, 2.0)(shuffled, y_pred)), loss, rtol=1e-5)


def test_empty_images():
    y_true = np.full((2, 3, 5), -1.0, "float32")
    y_pred = np.random.default_rng(2).normal(size=(2, 8, 8, 5 + 4)).astype("float32")
    loss = _numpy(CenterNetLoss(5)(y_true, y_pred))
    # only the focal negatives (Y = 0: p² log(1 − p)), over N clamped to 1
    np.testing.assert_allclose(loss, _reference_focal(np.zeros((2, 8, 8, 5)), y_pred[..., :5]), rtol=1e-5)
    assert np.isfinite(loss) and loss > 0


def test_wrong_channels_and_classes_raise():
    with pytest.raises(ValueError, match="num_classes \\+ 4"):
        CenterNetLoss(3)(Y_TRUE, np.zeros((2, 4, 4, 3), "float32"))
    with pytest.raises(ValueError, match="num_classes >= 1"):
        CenterNetLoss(0)


def test_config_round_trip():
    loss = CenterNetLoss(7, size_weight=0.2, offset_weight=0.5, name="cn")
    config = loss.get_config()
    assert config == {"num_classes": 7, "size_weight": 0.2, "offset_weight": 0.5, "name": "cn",
                      "dtype": "float32"}
    assert CenterNetLoss.from_config(config).get_config() == config
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, CenterNetLoss) and restored.get_config() == config
