"""ADE, FDE and best-of-N against their definitions."""

import numpy as np
import pytest

from kerasseq.metrics.trajectories import best_of, displacement_errors


def test_ade_fde_and_best_of_n():
    truth = np.zeros((2, 3, 2))
    predicted = np.zeros((2, 3, 2))
    predicted[0, :, 0] = [3.0, 0.0, 4.0]  # track 0: errors 3, 0, 4
    predicted[1, 2] = [3.0, 4.0]  # track 1: errors 0, 0, 5
    ade, fde = displacement_errors(predicted, truth)
    np.testing.assert_allclose(ade, [7 / 3, 5 / 3])
    np.testing.assert_allclose(fde, [4.0, 5.0])
    other = np.zeros((2, 3, 2))
    other[0, :, 1] = 1.0  # track 0: errors 1, 1, 1 (better ADE, better FDE)
    other[1, :, 1] = [2.0, 2.0, 4.5]  # track 1: errors 2, 2, 4.5 (worse ADE, better FDE)
    ade, fde = best_of(np.stack([predicted, other]), truth)
    np.testing.assert_allclose(ade, [1.0, 5 / 3])  # each minimised on its own
    np.testing.assert_allclose(fde, [1.0, 4.5])
    with pytest.raises(ValueError, match="same tracks and frames"):
        displacement_errors(predicted[:, :2], truth)


def test_best_of_n_per_window_is_social_gans():
    truth = np.zeros((3, 1, 2))
    samples = np.zeros((2, 3, 1, 2))
    samples[0, :, 0, 0] = [1.0, 5.0, 2.0]  # window 0 (tracks 0, 1) sums 6; window 1 (track 2): 2
    samples[1, :, 0, 0] = [3.0, 2.0, 1.0]  # window 0 sums 5; window 1: 1
    ade, fde = best_of(samples, truth, windows=[7, 7, 9])
    np.testing.assert_allclose(ade, [3.0, 2.0, 1.0])  # window 0 takes sample 1 for both tracks
    np.testing.assert_allclose(fde, ade)
    np.testing.assert_allclose(best_of(samples, truth)[0], [1.0, 2.0, 1.0])  # per pedestrian
