"""Binarised MNIST: stochastic and threshold binarisation, the fixed test draw, the batches."""

import numpy as np
import pytest

from kerasseq.data.binarized_mnist import BinarizedMNISTBatches, binarize, load_mnist_splits
from kerasseq.errors import DataError


@pytest.fixture(scope="module")
def splits(data_dir):
    return load_mnist_splits(data_dir, validation_size=10000, seed=0)


def test_splits_are_the_papers_50000_10000_10000(splits):
    assert [len(splits[s][0]) for s in ("train", "validation", "test")] == [50000, 10000, 10000]
    assert splits["test"][0].dtype == np.uint8 and splits["test"][0].shape[1:] == (28, 28, 1)


def test_stochastic_binarisation_has_the_grey_level_as_probability(splits):
    grey = splits["test"][0][:2000]
    binary = binarize(grey, "stochastic", np.random.default_rng(0))
    assert set(np.unique(binary)) == {0.0, 1.0}
    assert binary.mean() == pytest.approx(grey.mean() / 255.0, abs=0.002)
    mid = (grey > 100) & (grey < 155)  # grey ~ 0.5: about half of them on
    assert binary[mid].mean() == pytest.approx((grey[mid] / 255.0).mean(), abs=0.02)
    assert (binary[grey == 0] == 0).all() and (binary[grey == 255] == 1).all()
    np.testing.assert_array_equal(binary, binarize(grey, "stochastic", np.random.default_rng(0)))
    np.testing.assert_array_equal(binarize(grey, "threshold"), grey > 127)
    with pytest.raises(DataError, match="binarization"):
        binarize(grey, "dither")


def test_batches_fix_the_evaluation_draw_and_redraw_training_images(splits):
    grey, labels = splits["test"][0][:100], splits["test"][1][:100]
    test_a = BinarizedMNISTBatches(grey, labels, 32, seed=1)
    test_b = BinarizedMNISTBatches(grey, labels, 32, seed=1, conditional=True)
    assert len(test_a) == 4 and len(test_a[3][0]) == 4  # the last, smaller batch is kept
    inputs, targets = test_b[0]
    np.testing.assert_array_equal(inputs["images"], test_a[0][0])
    np.testing.assert_array_equal(inputs["labels"], labels[:32])
    np.testing.assert_array_equal(targets, inputs["images"])
    test_a.on_epoch_end()
    np.testing.assert_array_equal(test_a[0][0], test_b[0][0]["images"])  # fixed
    train = BinarizedMNISTBatches(grey, labels, 32, train=True, seed=1)
    assert len(train) == 3
    first = train[0][0]
    train.on_epoch_end()
    assert not np.array_equal(first, train[0][0])  # a new order and a new draw
    resumed = BinarizedMNISTBatches(grey, labels, 32, train=True, seed=1, first_epoch=1)
    np.testing.assert_array_equal(resumed[0][0], train[0][0])


def test_shorter_epochs_run_on_as_one_stream(splits):
    grey, labels = splits["test"][0][:100], splits["test"][1][:100]
    full = BinarizedMNISTBatches(grey, labels, 32, train=True, seed=2)  # 3 batches a pass
    short = BinarizedMNISTBatches(grey, labels, 32, train=True, seed=2, steps_per_epoch=2)
    stream = []
    for epoch in range(3):  # 6 batches: two passes
        stream += [short[k][0] for k in range(len(short))]
        short.on_epoch_end()
    assert len(short) == 2
    np.testing.assert_array_equal(stream[2], full[2][0])
    full.on_epoch_end()
    np.testing.assert_array_equal(stream[3], full[0][0])  # the second pass: a new draw
    assert not np.array_equal(stream[3], stream[0])
