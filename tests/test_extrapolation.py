"""Extrapolation baselines: persistence and pysteps optical flow on synthetic motion."""

import numpy as np
import pytest

from kerasseq.extrapolation import optical_flow_extrapolation, persistence


def moving_blob(frames, size=64, velocity=(1.0, 2.0), start=(20.0, 16.0), amplitude=10.0,
                sigma=5.0):
    """A Gaussian blob whose centre moves ``velocity`` (rows, columns) pixels per frame."""
    rows, cols = np.mgrid[:size, :size]
    centres = np.array(start) + np.arange(frames)[:, None] * np.array(velocity)
    return np.stack([amplitude * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * sigma ** 2))
                     for r, c in centres])


def centre(field):
    rows, cols = np.mgrid[:field.shape[0], :field.shape[1]]
    return np.array([(field * rows).sum(), (field * cols).sum()]) / field.sum()


def test_persistence_repeats_the_last_frame():
    inputs = np.random.default_rng(0).uniform(size=(3, 4, 8, 8))
    out = persistence(inputs, 5)
    assert out.shape == (3, 5, 8, 8) and out.dtype == np.float32
    for k in range(5):
        np.testing.assert_array_equal(out[:, k], inputs[:, -1].astype(np.float32))


# Rain rates in mm/h (radar) and pixel intensities in [0, 1] (Moving MNIST), two sizes.
@pytest.mark.parametrize("amplitude,size", [(10.0, 96), (1.0, 64)])
def test_optical_flow_follows_a_translating_blob(amplitude, size):
    sequence = moving_blob(12, size=size, amplitude=amplitude)
    inputs, truth = sequence[None, :6], sequence[None, 6:]
    out = optical_flow_extrapolation(inputs, 6)
    assert out.shape == (1, 6, size, size) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0
    for k in range(6):
        assert np.abs(centre(out[0, k]) - centre(truth[0, k])).max() < 1.0
    flow_mse = ((out - truth) ** 2).mean()
    assert flow_mse < 0.01 * ((persistence(inputs, 6) - truth) ** 2).mean()


def test_dry_or_missing_inputs_give_persistence_of_zeros():
    inputs = np.zeros((2, 4, 32, 32))
    inputs[1, :, :5] = np.nan  # outside coverage reads as 0
    out = optical_flow_extrapolation(inputs, 3)
    assert out.shape == (2, 3, 32, 32) and not out.any()


def test_inflow_across_the_border():
    sequence = moving_blob(10, velocity=(0.0, 2.0), start=(32.0, 4.0))  # cut by the left edge
    inputs = sequence[None, :6]
    zero = optical_flow_extrapolation(inputs, 4, inflow="zero")
    edge = optical_flow_extrapolation(inputs, 4, inflow="edge")
    assert zero[0, -1, 32, 0] < 0.01 * inputs[0, -1, 32, 0]
    np.testing.assert_allclose(edge[0, -1, 32, 0], inputs[0, -1, 32, 0], rtol=0.05)
    with pytest.raises(ValueError, match="inflow"):
        optical_flow_extrapolation(inputs, 4, inflow="wrap")
