"""Length-bucketed batching shared by the text pipelines: examples are grouped by padded
length and batched within a group, so every batch has one of a few shapes (one XLA
compilation each) and little padding."""

from __future__ import annotations

import numpy as np


def bucket_length(n: int, buckets=(16, 32, 64, 128)) -> int:
    """The padded length of an example of ``n`` tokens: the first bucket that holds it, else
    the next multiple of 64."""
    for b in buckets:
        if n <= b:
            return b
    return int(np.ceil(n / 64) * 64)


class BucketedBatches:
    """Which examples form each batch, epoch after epoch.

    With ``shuffle`` (training) each group's contents and the order of the batches change
    every epoch, and each group's last incomplete batch waits for the next epoch (a different
    remainder each time): every batch is full. Without it (evaluation) every example is used
    once, in a fixed order, and a group's last batch may be smaller.

    Args:
        lengths: the unpadded length of every example.
        batch_size: examples per batch.
        shuffle: training order (see above).
        seed: seed of the shuffling; epoch ``e`` uses ``default_rng([seed, e])``.
        buckets: the padded lengths (:func:`bucket_length`).

    Example:
    >>> plan = BucketedBatches([3, 20, 5, 18], batch_size=2, shuffle=False)
    >>> plan.num_batches, plan.epoch()[1]
    (2, [(16, [0, 2]), (32, [1, 3])])
    """

    def __init__(self, lengths, batch_size: int, shuffle: bool, seed: int = 0,
                 buckets=(16, 32, 64, 128)):
        self.groups: dict[int, list[int]] = {}
        for i, n in enumerate(lengths):
            self.groups.setdefault(bucket_length(n, buckets), []).append(i)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        per_group = (lambda g: len(g) // batch_size) if shuffle else (lambda g: -(-len(g) // batch_size))
        self.num_batches = sum(per_group(g) for g in self.groups.values())
        self._epoch = 0

    def epoch(self) -> tuple[np.random.Generator, list[tuple[int, list[int]]]]:
        """The next epoch's random generator (for other per-epoch randomness, e.g. word
        dropout) and its batches as ``(padded_length, example_indices)``."""
        rng = np.random.default_rng([self.seed, self._epoch])
        self._epoch += 1
        batches = []
        for length, index in sorted(self.groups.items()):
            index = [int(i) for i in rng.permutation(index)] if self.shuffle else index
            stop = len(index) - len(index) % self.batch_size if self.shuffle else len(index)
            batches += [(length, index[i:i + self.batch_size]) for i in range(0, stop, self.batch_size)]
        order = rng.permutation(len(batches)) if self.shuffle else range(len(batches))
        return rng, [batches[b] for b in order]
