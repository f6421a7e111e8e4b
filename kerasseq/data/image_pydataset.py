"""The image pipeline without TensorFlow: :class:`ImageBatches`, a ``keras.utils.PyDataset``
that prepares and augments batches as :func:`kerasseq.data.images.image_batches`' tf.data
pipeline does (model size, random crop of the zero-padded image, horizontal flip, RandAugment,
MixUp/CutMix), with NumPy and Keras' own preprocessing layers. It is what the
image-classification task trains on where only JAX is installed (the GPU machine).

Draws are seeded by (seed, epoch, batch): a resumed run draws the same augmentations again,
but they are not tf.data's draws. Crops and flips are vectorised NumPy (about 18,000 CIFAR
images a second on one core); RandAugment, MixUp and CutMix run Keras' layers eagerly per
batch, which is slow (about 280 images a second with RandAugment on a CPU core).
"""

from __future__ import annotations

import keras
import numpy as np

from kerasseq.data.images import ImageDataset


def to_model_size_numpy(images, native_size: int, image_size: int) -> np.ndarray:
    """:func:`kerasseq.data.images.to_model_size` without TensorFlow (NumPy, and
    ``keras.ops.image.resize`` where a resize is needed). Returns float32 pixels in [0, 255]."""

    def resize(x, size):
        x = keras.ops.image.resize(x, (size, size), interpolation="bilinear", antialias=False)
        return keras.ops.convert_to_numpy(x).astype("float32")

    images = np.asarray(images, dtype="float32")
    if images.shape[1] != native_size or images.shape[2] != native_size:
        images = resize(images, native_size)
    if image_size > native_size and (image_size - native_size) <= 8:
        before = (image_size - native_size) // 2  # as tf.image.resize_with_crop_or_pad
        after = image_size - native_size - before
        return np.pad(images, ((0, 0), (before, after), (before, after), (0, 0)))
    if image_size != native_size:
        return resize(images, image_size)
    return images


def random_crop_flip(images: np.ndarray, padding: int, flip: bool, rng) -> np.ndarray:
    """Each image cropped at a random offset from its copy zero-padded by ``padding`` pixels
    (the image's size kept), then mirrored left-right with probability 1/2 if ``flip``."""
    count, height, width = images.shape[:3]
    if padding:
        padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
        top = rng.integers(0, 2 * padding + 1, count)
        left = rng.integers(0, 2 * padding + 1, count)
        rows = top[:, None] + np.arange(height)  # (count, height)
        cols = left[:, None] + np.arange(width)  # (count, width)
        images = padded[np.arange(count)[:, None, None], rows[:, :, None], cols[:, None, :]]
    if flip:
        mirror = rng.random(count) < 0.5
        images = np.where(mirror[:, None, None, None], images[:, :, ::-1], images)
    return images


class ImageBatches(keras.utils.PyDataset):
    """``(float32 images in [0, 255], one-hot labels)`` batches of ``images``.

    Args:
        images, labels: uint8 ``(N, size, size, channels)`` and int ``(N,)``.
        info / image_size / batch_size / train / seed / crop_padding / randaugment / mixup /
            cutmix: as :func:`kerasseq.data.images.image_batches` (training batches are
            shuffled every epoch and the last incomplete one dropped; evaluation keeps order
            and every image).

    Example:
    >>> batches = ImageBatches(x, y, dataset_info("cifar10"), 32, 128, train=True)
    >>> images, one_hot = batches[0]
    """

    def __init__(self, images, labels, info: ImageDataset, image_size: int, batch_size: int, *,
                 train: bool = False, seed: int = 0, crop_padding: int = 4,
                 randaugment: bool = False, mixup: float = 0.0, cutmix: float = 0.0):
        super().__init__()
        self.images, self.labels = images, np.asarray(labels, "int32")
        self.info, self.image_size, self.batch_size = info, image_size, batch_size
        self.train, self.seed, self.crop_padding = train, seed, crop_padding
        self.epoch = 0
        self.mixers = []
        if train and randaugment:
            self.rand_augment = keras.layers.RandAugment(value_range=(0, 255), seed=seed)
        else:
            self.rand_augment = None
        if train and mixup:
            self.mixers.append(keras.layers.MixUp(alpha=mixup, seed=seed))
        if train and cutmix:  # CutMix's Beta(α, α) parameter is called ``factor`` in Keras
            self.mixers.append(keras.layers.CutMix(factor=cutmix, seed=seed))
        self.order = self._order()

    def _order(self):
        if not self.train:
            return np.arange(len(self.images))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))

    def __len__(self):
        if self.train:
            return len(self.images) // self.batch_size
        return -(-len(self.images) // self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        x = to_model_size_numpy(self.images[rows], self.info.native_size, self.image_size)
        y = np.eye(len(self.info.class_names), dtype="float32")[self.labels[rows]]
        if not self.train:
            return x, y
        rng = np.random.default_rng([self.seed, self.epoch, index])
        x = random_crop_flip(x, self.crop_padding, self.info.flip, rng)
        if self.rand_augment is not None:
            x = keras.ops.convert_to_numpy(self.rand_augment(x)).astype("float32")
        if self.mixers:
            mixer = self.mixers[int(rng.integers(len(self.mixers)))]
            mixed = mixer({"images": x, "labels": y})
            x = keras.ops.convert_to_numpy(mixed["images"]).astype("float32")
            y = keras.ops.convert_to_numpy(mixed["labels"]).astype("float32")
        return x, y

    def on_epoch_end(self):
        self.epoch += 1
        self.order = self._order()
