"""Moving MNIST made from the real digits: shapes, bouncing, a fixed test set."""

import numpy as np
import pytest

from kerasseq.data.moving_mnist import (load_digit_pool, moving_mnist_batches,
                                        moving_mnist_test_chunks, render_sequences)
from kerasseq.errors import DataError


def test_a_single_digit_moves_at_constant_speed_and_bounces_inside_the_frame():
    digit = np.zeros((1, 28, 28), np.uint8)
    digit[0, 10:18, 10:18] = 255  # a square "digit": its centre of mass is easy to follow
    frames = render_sequences(np.random.default_rng(3), digit, 5, frames=40, digits=1, speed=3.6)
    assert frames.shape == (5, 40, 64, 64) and frames.dtype == np.float32
    mass = frames.sum(axis=(2, 3))
    np.testing.assert_allclose(mass, 64.0)  # never leaves the frame, never clipped
    rows = (frames.sum(axis=3) * np.arange(64)).sum(-1) / mass
    cols = (frames.sum(axis=2) * np.arange(64)).sum(-1) / mass
    steps = np.hypot(np.diff(rows), np.diff(cols))
    assert np.median(steps) == pytest.approx(3.6, abs=0.5)  # bounces shorten a few steps
    assert rows.min() >= 13.5 and rows.max() <= 64 - 14.5  # the square stays inside


def test_training_batches_and_the_fixed_test_set(data_dir):
    x, y = next(moving_mnist_batches(3, 10, 10, seed=0, data_dir=data_dir))
    assert x.shape == (3, 10, 64, 64, 1) and y.shape == (3, 10, 64, 64, 1)
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.mean() > 0.01
    chunks = list(moving_mnist_test_chunks(12, 10, 10, chunk=5, data_dir=data_dir))
    assert [len(c[0]) for c in chunks] == [5, 5, 2]
    again = next(moving_mnist_test_chunks(12, 10, 10, chunk=5, data_dir=data_dir))
    np.testing.assert_array_equal(chunks[0][0], again[0])
    # The test sequences are made of MNIST test digits, not training ones.
    assert len(load_digit_pool("test", data_dir)) == 10_000


def test_bad_arguments_are_named(data_dir):
    with pytest.raises(DataError, match="split"):
        load_digit_pool("validation", data_dir)
    with pytest.raises(DataError, match="digits"):
        render_sequences(np.random.default_rng(0), np.zeros((1, 28, 28), np.uint8), 1, digits=0)
    with pytest.raises(DataError, match="count"):
        next(moving_mnist_test_chunks(0, data_dir=data_dir))
