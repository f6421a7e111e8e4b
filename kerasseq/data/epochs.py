"""Datasets that draw a new order of NumPy batches every epoch: a ``tf.data`` pipeline where
TensorFlow is installed, a ``keras.utils.PyDataset`` where it is not (JAX alone)."""

from __future__ import annotations

from typing import Callable, Sequence

import keras


def shuffled_batches(count: int, batch_size: int, train: bool, seed: int = 0):
    """The ``plan`` of :func:`epoch_dataset` for ``count`` examples: ``epoch -> [(epoch, k,
    indices)]``, the examples in a new seeded order every epoch without the last partial
    batch when ``train`` (every step has the same shape), in order and complete otherwise."""
    import numpy as np

    def plan(epoch):
        order = np.random.default_rng([seed, epoch]).permutation(count) if train else np.arange(count)
        stop = count - count % batch_size if train and count >= batch_size else count
        return [(epoch, k, order[k:k + batch_size]) for k in range(0, stop, batch_size)]

    return plan


def epoch_dataset(plan: Callable[[int], Sequence], load: Callable, signature,
                  first_epoch: int = 0, prefetch: int = 2):
    """Batches ``load(item)`` for the items of ``plan(epoch)``, one epoch after another.

    Args:
        plan: ``epoch -> items`` (e.g. lists of window indices); the same count every epoch.
        load: ``item -> (inputs, targets)`` NumPy batch.
        signature: the ``tf.TensorSpec`` structure of a batch (``None`` for varying axes);
            only used with TensorFlow.
        first_epoch: the epoch the first pass draws (a resumed run continues the sequence).
        prefetch: batches made ahead (TensorFlow).

    Returns:
        A finite ``tf.data.Dataset`` of ``len(plan(e))`` batches whose every iteration is the
        next epoch, or a ``keras.utils.PyDataset`` that moves to the next epoch at each
        epoch end.

    Example:
    >>> ds = epoch_dataset(lambda e: batch_plan(windows, 32, np.random.default_rng([0, e])),
    ...                    lambda idx: make_batch(windows, idx), signature)
    """
    count = len(plan(first_epoch))
    try:
        import tensorflow as tf
    except ModuleNotFoundError:
        return _EpochBatches(plan, load, first_epoch)
    epoch = [first_epoch]

    def batches():
        items = plan(epoch[0])
        epoch[0] += 1
        for item in items:
            yield load(item)

    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    return dataset.apply(tf.data.experimental.assert_cardinality(count)).prefetch(prefetch)


class _EpochBatches(keras.utils.PyDataset):
    """The PyDataset of :func:`epoch_dataset`: moves to the next epoch at each epoch end."""

    def __init__(self, plan, load, first_epoch):
        super().__init__()
        self.plan, self.load = plan, load
        self.epoch, self.items = first_epoch, plan(first_epoch)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.load(self.items[index])

    def on_epoch_end(self):
        self.epoch += 1
        self.items = self.plan(self.epoch)


def numpy_batches(dataset):
    """The ``(inputs, targets)`` NumPy batches of a finite ``tf.data.Dataset`` or a
    ``keras.utils.PyDataset`` (one pass, in order)."""
    if hasattr(dataset, "as_numpy_iterator"):
        yield from dataset.as_numpy_iterator()
        return
    for index in range(len(dataset)):
        yield dataset[index]
