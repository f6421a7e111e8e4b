"""The trajectory baselines against their definitions."""

import numpy as np
import pytest

from kerasseq.trajectory_baselines import (constant_velocity, linear_extrapolation,
                                           sampled_constant_velocity)


def test_linear_extrapolation_is_the_least_squares_line():
    t = np.arange(8.0)
    rng = np.random.default_rng(0)
    observed = np.stack([1.0 + 0.5 * t, -2.0 + 0.25 * t], -1) + rng.normal(0, 0.05, (8, 2))
    future = linear_extrapolation(observed, 12)
    for axis in range(2):
        slope, intercept = np.polyfit(t, observed[:, axis], 1)
        np.testing.assert_allclose(future[:, axis], intercept + slope * np.arange(8, 20), atol=1e-9)
    batch = linear_extrapolation(np.stack([observed, observed + 1.0]), 12)
    np.testing.assert_allclose(batch[1], future + 1.0)


def test_constant_velocity_carries_the_last_step():
    observed = np.array([[0.0, 0.0], [5.0, 5.0], [6.0, 5.0], [7.0, 5.5]])
    np.testing.assert_allclose(constant_velocity(observed, 3), [[8.0, 6.0], [9.0, 6.5], [10.0, 7.0]])
    with pytest.raises(ValueError, match="frames >= 2"):
        constant_velocity(observed[:1], 3)


def test_sampled_constant_velocity_rotates_the_velocity():
    observed = np.array([[[0.0, 0.0], [1.0, 0.0]]] * 500)  # 500 tracks moving along +x at 1 m/frame
    samples = sampled_constant_velocity(observed, 12, samples=20, angle_std_degrees=25.0,
                                        rng=np.random.default_rng(1))
    assert samples.shape == (20, 500, 12, 2)
    steps = samples[:, :, 0] - observed[None, :, -1]  # the first predicted step
    np.testing.assert_allclose(np.linalg.norm(steps, axis=-1), 1.0)  # speed kept
    angles = np.degrees(np.arctan2(steps[..., 1], steps[..., 0]))
    assert np.std(angles) == pytest.approx(25.0, rel=0.05) and abs(np.mean(angles)) < 1.0
    np.testing.assert_allclose(samples[:, :, -1], observed[None, :, -1] + 12 * steps)  # straight
    still = sampled_constant_velocity(observed[:3], 12, 4, angle_std_degrees=0.0)
    np.testing.assert_allclose(still, np.broadcast_to(constant_velocity(observed[:3], 12), still.shape))
