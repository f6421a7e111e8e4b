"""Nowcasting scores: SSIM as TensorFlow computes it, the contingency scores by hand."""

import numpy as np
import pytest

from kerasseq.metrics.nowcasting import NowcastScores, binary_cross_entropy, ssim


def test_ssim_equals_tensorflows():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    a = rng.random((3, 32, 40))
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1)
    expected = tf.image.ssim(tf.constant(a[..., None]), tf.constant(b[..., None]), max_val=1.0).numpy()
    np.testing.assert_allclose(ssim(a, b), expected, rtol=1e-5)


def test_ssim_of_identical_frames_is_one_and_shapes_are_checked():
    a = np.random.default_rng(1).random((2, 4, 16, 16))
    np.testing.assert_allclose(ssim(a, a), np.ones((2, 4)))
    assert ssim(a, 1 - a).max() < 0.5
    with pytest.raises(ValueError, match="equal shape"):
        ssim(a, a[..., :8])


def test_contingency_scores_by_hand():
    truth = np.zeros((1, 2, 4, 4))
    forecast = np.zeros((1, 2, 4, 4))
    truth[0, 0, 0, :3] = 3.0  # lead 1: 3 wet pixels observed
    forecast[0, 0, 0, 1:4] = 2.5  # 2 hits, 1 miss, 1 false alarm at 2 mm/h
    mask = np.ones_like(truth, bool)
    mask[0, 1] = False  # lead 2 wholly outside coverage: no pixels
    scores = NowcastScores(2, thresholds=(2.0,), ssim_range=None)
    scores.update(forecast, truth, mask)
    r = scores.result()
    assert r["csi_2"][0] == pytest.approx(2 / 4)
    assert r["pod_2"][0] == pytest.approx(2 / 3)
    assert r["far_2"][0] == pytest.approx(1 / 3)
    assert np.isnan(r["csi_2"][1])  # nothing observed or forecast: undefined, not zero
    assert r["mse"][0] == pytest.approx((3.0 ** 2 + 2.5 ** 2 + 0.5 ** 2 * 2) / 16)
    assert r["mae"][0] == pytest.approx((3.0 + 2.5 + 0.5 * 2) / 16)


def test_cross_entropy_is_the_per_frame_sum():
    p = np.full((1, 1, 2, 2), 0.8)
    t = np.array([[[[1.0, 0.0], [1.0, 1.0]]]])
    expected = -(3 * np.log(0.8) + np.log(0.2))
    np.testing.assert_allclose(binary_cross_entropy(p, t), [[expected]])
    assert np.isfinite(binary_cross_entropy(np.zeros((1, 1, 2, 2)), t)).all()  # clipped
    scores = NowcastScores(1, cross_entropy=True, ssim_range=None)
    scores.update(p, t)
    scores.update(p, t)
    np.testing.assert_allclose(scores.result()["cross_entropy"], [expected])
