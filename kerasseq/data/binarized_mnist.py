"""Binarised MNIST for likelihood models (PixelCNN): reader, binarisation and batches.

Binarisation (``binarization``):
  * ``"stochastic"``: each pixel is 1 with probability its grey level / 255, as in the
    binarised MNIST of Salakhutdinov and Murray 2008 that PixelRNN (van den Oord et al. 2016,
    Table 4: Diagonal BiLSTM 79.20 nats) and the gated PixelCNN evaluate on. Training images
    are drawn anew every epoch ("dynamic" binarisation); the validation and test images are
    drawn once from a fixed seed, so the reported likelihood is deterministic. This is a
    fresh draw, not the exact file of Salakhutdinov and Murray (which the shared data does
    not hold): figures are comparable in distribution, not image for image.
  * ``"threshold"``: a pixel is 1 where its grey level is above 127 (0.5), fixed.

Splits: the 60,000 training images are split (a seeded random choice) into training and
``validation_size`` validation images (the papers' 50,000 / 10,000); the 10,000 test images
give the reported figure.

:class:`BinarizedMNISTBatches` is a ``keras.utils.PyDataset`` (NumPy only), so the same
pipeline runs on TensorFlow and on JAX without TensorFlow.
"""

from __future__ import annotations

import keras
import numpy as np

from kerasseq.data.images import load_images, train_validation_split
from kerasseq.errors import DataError

BINARIZATIONS = ("stochastic", "threshold")
IMAGE_SHAPE = (28, 28, 1)


def binarize(grey, binarization: str = "stochastic", rng=None) -> np.ndarray:
    """float32 {0, 1} images from uint8 grey levels: sampled with probability level / 255
    (``"stochastic"``, with the NumPy generator ``rng``) or level > 127 (``"threshold"``)."""
    grey = np.asarray(grey)
    if binarization == "threshold":
        return (grey > 127).astype(np.float32)
    if binarization != "stochastic":
        raise DataError(f"binarization must be one of {BINARIZATIONS}; got {binarization!r}")
    rng = rng if rng is not None else np.random.default_rng(0)
    return (rng.random(grey.shape, dtype=np.float32) * 255.0 < grey).astype(np.float32)


def load_mnist_splits(data_dir=None, validation_size: int = 10000, seed: int = 0):
    """``{"train": (grey, labels), "validation": ..., "test": ...}``: uint8 ``(N, 28, 28, 1)``
    grey images and int32 labels, read (and checksum-verified) by
    :func:`kerasseq.data.images.load_images`."""
    images, labels = load_images("mnist", "train", data_dir)
    train, validation = train_validation_split(images, labels, validation_size, seed)
    return {"train": train, "validation": validation,
            "test": load_images("mnist", "test", data_dir)}


class BinarizedMNISTBatches(keras.utils.PyDataset):
    """Batches of ``(inputs, targets)``: inputs the binary images ``(batch, 28, 28, 1)``, or
    ``{"images", "labels"}`` with ``conditional``; targets the same binary images.

    Args:
        grey, labels: uint8 grey images and int labels (:func:`load_mnist_splits`).
        batch_size: images per batch (the last, smaller batch is kept unless ``train``).
        train: shuffle and binarise anew every pass over the images (seeded by ``seed``
            and the pass); otherwise binarise once with ``seed`` and keep the order.
        binarization: ``"stochastic"`` or ``"threshold"``.
        conditional: give the labels to the model.
        seed: the random seed.
        first_epoch: the epoch this dataset starts at (a resumed run continues its draws).
        output: ``"softmax256"`` or ``"logistic_mixture"`` keeps the levels (0..255) as
            inputs and targets (any uint8 images, e.g. CIFAR-10's RGB ones).
        steps_per_epoch: training batches per epoch when an epoch is not one pass (0: one
            pass). The batches run on as one stream over the epochs (Keras would otherwise
            cut an epoch short where a pass ends).
    """

    def __init__(self, grey, labels, batch_size: int, *, train: bool = False,
                 binarization: str = "stochastic", conditional: bool = False, seed: int = 0,
                 first_epoch: int = 0, output: str = "bernoulli", steps_per_epoch: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        if len(grey) != len(labels) or len(grey) == 0:
            raise DataError(f"expected as many images as labels, at least one; got {len(grey)} "
                            f"images and {len(labels)} labels")
        self.grey, self.labels = np.asarray(grey), np.asarray(labels, np.int32)
        self.batch_size, self.train, self.binarization = batch_size, train, binarization
        self.conditional, self.seed, self.output = conditional, seed, output
        self.epoch = first_epoch
        full, rest = divmod(len(self.grey), batch_size)
        self.batches_per_pass = full if train and full else full + bool(rest)
        self.steps_per_epoch = (steps_per_epoch or self.batches_per_pass) if train else 0
        self._pass = None
        self._draw(0)

    def _draw(self, pass_index):
        """The order and binary images of one pass over the images."""
        if pass_index == self._pass:
            return
        rng = np.random.default_rng([self.seed, pass_index] if self.train else self.seed)
        self.order = rng.permutation(len(self.grey)) if self.train else np.arange(len(self.grey))
        if self.output != "bernoulli":
            self.images = self.grey.astype(np.float32)
        elif self.train or self._pass is None:
            self.images = binarize(self.grey, self.binarization, rng)
        self._pass = pass_index

    def __len__(self):
        return self.steps_per_epoch or self.batches_per_pass

    def __getitem__(self, index):
        if self.train:  # the index-th batch of this epoch in the stream of all epochs
            pass_index, index = divmod(self.epoch * self.steps_per_epoch + index,
                                       self.batches_per_pass)
            self._draw(pass_index)
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        images = self.images[rows]
        inputs = {"images": images, "labels": self.labels[rows]} if self.conditional else images
        return inputs, images

    def on_epoch_end(self):
        if self.train:
            self.epoch += 1
