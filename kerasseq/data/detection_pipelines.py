"""Training pipelines of the detection canvases (:mod:`kerasseq.data.detection`): a tf.data
pipeline (:func:`detection_dataset`), and :class:`DetectionBatches`, a ``keras.utils.PyDataset``
giving the same canvases where TensorFlow is absent (JAX alone, as on the GPU machine)."""

from __future__ import annotations

import functools

import numpy as np

from kerasseq.data.detection import (DEFAULT_CANVASES, _canvas_batch, _check_canvas_args,
                                     _check_split, load_digits, make_canvases)
from kerasseq.errors import UserError


def _check_pipeline_args(split, batch_size, seed, num_canvases, canvas_size, min_objects,
                         max_objects, scale_range, max_iou):
    """Checks a pipeline's arguments; returns ``(scale_range, num_canvases)``."""
    _check_split(split)
    scale_range = _check_canvas_args(canvas_size, min_objects, max_objects, scale_range,
                                     max_iou)
    num_canvases = DEFAULT_CANVASES[split] if num_canvases is None else int(num_canvases)
    if batch_size < 1:
        raise UserError(f"batch_size must be >= 1; received batch_size={batch_size}")
    if seed < 0:
        raise UserError(f"seed must be >= 0; received seed={seed}")
    if split == "train" and num_canvases < batch_size:
        raise UserError("num_canvases (per training epoch) must be >= batch_size, since "
                        "partial training batches are dropped; received "
                        f"num_canvases={num_canvases}, batch_size={batch_size}")
    if num_canvases < 1:
        raise UserError(f"num_canvases must be >= 1; received num_canvases={num_canvases}")
    return scale_range, num_canvases


def _train_entropy(seed: int, epoch: int, batch: int, batch_size: int) -> np.ndarray:
    """Seed entropy ``(batch_size, 3)`` of training batch ``batch`` of pass ``epoch``: canvas
    ``i`` of a pass is drawn by ``default_rng((seed, epoch, i))``."""
    i = np.arange(batch * batch_size, (batch + 1) * batch_size)
    return np.stack([np.full(batch_size, seed), np.full(batch_size, epoch), i], 1)


def detection_dataset(split: str, batch_size: int, data_dir=None, download: bool = False,
                      seed: int = 0, num_canvases: int | None = None, canvas_size: int = 128,
                      min_objects: int = 1, max_objects: int = 6, scale_range=(16, 48),
                      max_iou: float = 0.3, validation_digits: int = 5_000, first_pass: int = 0):
    """A tf.data pipeline of detection canvases and their padded DETR targets.

    Elements are ``(images, {"labels": labels, "boxes": boxes})``:
    images float32 ``(B, S, S, 1)`` in [0, 255]; labels int32 ``(B, T)``, the digit 0–9,
    padded with -1; boxes float32 ``(B, T, 4)`` normalised ``(cx, cy, w, h)``, padded with 0;
    ``T = max_objects``. Training batches all have ``batch_size`` canvases (the last partial
    batch of an epoch is dropped) so every shape is static; validation and test keep their
    last, smaller batch.

    The training split is drawn on the fly: canvas ``i`` of the ``e``-th pass over the dataset
    (Keras' ``fit`` starts one per epoch) comes from ``default_rng((seed, e, i))``, so epochs
    differ and two datasets with the same seed give the same epochs. Validation and test are
    the fixed sets of :func:`make_canvases`.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        batch_size: canvases per batch.
        data_dir: the data directory (default ``$KERASSEQ_DATA_DIR``).
        download: fetch missing MNIST files from their source.
        seed: training: seed of the canvas stream; validation/test: seed of the fixed set.
        num_canvases: canvases per epoch (train, default 10,000) or in the set (validation
            500, test 2,000).
        canvas_size, min_objects, max_objects, scale_range, max_iou: as in
            :func:`make_canvas`.
        validation_digits: as in :func:`load_digits`.
        first_pass: training: the pass ``e`` of the first epoch (a resumed run passes the
            epoch it resumes at, so it does not repeat the canvases it has seen).

    Example:
    >>> ds = detection_dataset("train", batch_size=8, num_canvases=16)
    >>> images, targets = next(iter(ds))
    >>> images.shape, targets["labels"].shape, targets["boxes"].shape
    (TensorShape([8, 128, 128, 1]), TensorShape([8, 6]), TensorShape([8, 6, 4]))
    """
    import tensorflow as tf

    scale_range, num_canvases = _check_pipeline_args(
        split, batch_size, seed, num_canvases, canvas_size, min_objects, max_objects,
        scale_range, max_iou)

    def to_example(images, labels, boxes):
        images = tf.cast(images[..., None], tf.float32)  # (batch, S, S, 1)
        return images, {"labels": labels, "boxes": boxes}

    if split != "train":
        fixed = make_canvases(num_canvases, seed, split, data_dir, download, canvas_size,
                              min_objects, max_objects, scale_range, max_iou,
                              validation_digits)
        ds = tf.data.Dataset.from_tensor_slices((fixed.images, fixed.labels, fixed.boxes))
        ds = ds.batch(batch_size).map(to_example, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    source = load_digits(split, data_dir, download, validation_digits)
    batches = num_canvases // batch_size
    epoch = [first_pass]

    def batch_entropy():  # called once per pass over the dataset
        e, epoch[0] = epoch[0], epoch[0] + 1
        for b in range(batches):
            yield _train_entropy(seed, e, b, batch_size)

    def draw(entropy):
        images, boxes, labels, _ = _canvas_batch(entropy, source, canvas_size, min_objects,
                                                 max_objects, scale_range, max_iou)
        return images, labels, boxes

    def generate(entropy):
        images, labels, boxes = tf.numpy_function(draw, [entropy],
                                                  [tf.uint8, tf.int32, tf.float32])
        images.set_shape((batch_size, canvas_size, canvas_size))
        labels.set_shape((batch_size, max_objects))
        boxes.set_shape((batch_size, max_objects, 4))
        return to_example(images, labels, boxes)

    ds = tf.data.Dataset.from_generator(
        batch_entropy, output_signature=tf.TensorSpec((batch_size, 3), tf.int64))
    ds = ds.apply(tf.data.experimental.assert_cardinality(batches))  # Keras knows the steps
    ds = ds.map(generate, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


@functools.cache
def _detection_batches_class():
    import keras

    class DetectionBatches(keras.utils.PyDataset):
        """Detection canvases as a ``keras.utils.PyDataset`` of images and packed DETR
        targets: :func:`detection_dataset` for backends without TensorFlow (JAX alone).

        It gives the canvases :func:`detection_dataset` gives with the same arguments:
        training canvas ``i`` of pass ``e`` is drawn by ``default_rng((seed, e, i))``, each
        ``on_epoch_end`` (Keras calls it after every epoch) starts the next pass, and the last
        partial training batch is dropped; validation and test are the fixed sets of
        :func:`make_canvases`, their last, smaller batch kept.

        Batches are ``(images, targets)``: images float32 ``(B, S, S, 1)`` in [0, 255];
        targets float32 ``(B, T, 5)``, ``(label, cx, cy, w, h)`` per object with label -1 and
        box 0 on padding (the layout of :func:`kerasseq.losses.detr.pack_detr_targets`);
        ``T = max_objects``. Batches are drawn in the calling thread: Keras' worker queue
        (``workers > 1``) hands batches of an interrupted pass on to the next epoch, which
        would break the ``(seed, e, i)`` rule.

        Args:
            split, batch_size, data_dir, download, seed, num_canvases, canvas_size,
            min_objects, max_objects, scale_range, max_iou, validation_digits, first_pass: as in
                :func:`detection_dataset`.

        Example:
        >>> batches = DetectionBatches("train", batch_size=8, num_canvases=20)
        >>> images, targets = batches[0]
        >>> len(batches), images.shape, targets.shape
        (2, (8, 128, 128, 1), (8, 6, 5))
        """

        def __init__(self, split: str, batch_size: int, data_dir=None, download: bool = False,
                     seed: int = 0, num_canvases: int | None = None, canvas_size: int = 128,
                     min_objects: int = 1, max_objects: int = 6, scale_range=(16, 48),
                     max_iou: float = 0.3, validation_digits: int = 5_000, first_pass: int = 0):
            super().__init__()
            scale_range, num_canvases = _check_pipeline_args(
                split, batch_size, seed, num_canvases, canvas_size, min_objects, max_objects,
                scale_range, max_iou)
            self.split, self.batch_size, self.seed, self.epoch = split, batch_size, seed, first_pass
            if split == "train":
                self.fixed = None
                self.source = load_digits(split, data_dir, download, validation_digits)
                self.canvas_args = (canvas_size, min_objects, max_objects, scale_range, max_iou)
                self.batches = num_canvases // batch_size
            else:
                self.fixed = make_canvases(num_canvases, seed, split, data_dir, download,
                                           canvas_size, min_objects, max_objects, scale_range,
                                           max_iou, validation_digits)
                self.batches = -(-num_canvases // batch_size)

        def __len__(self) -> int:
            return self.batches

        def __getitem__(self, index):
            if not 0 <= index < self.batches:
                raise IndexError(f"batch {index} of a dataset of {self.batches} batches")
            if self.fixed is None:
                entropy = _train_entropy(self.seed, self.epoch, index, self.batch_size)
                images, boxes, labels, _ = _canvas_batch(entropy, self.source, *self.canvas_args)
            else:
                rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
                images, boxes, labels = (self.fixed.images[rows], self.fixed.boxes[rows],
                                         self.fixed.labels[rows])
            labels = labels.astype(np.float32)[..., None]  # (batch, T, 1)
            targets = np.concatenate([labels, boxes], axis=-1)  # (batch, T, 5)
            return images.astype(np.float32)[..., None], targets  # (batch, S, S, 1)

        def on_epoch_end(self):
            if self.split == "train":
                self.epoch += 1

    DetectionBatches.__qualname__ = "DetectionBatches"  # pickled by name, as a top-level class
    return DetectionBatches


def __getattr__(name):
    # DetectionBatches subclasses keras.utils.PyDataset, so it is made on first use: the
    # canvases need no Keras, whose default backend would import TensorFlow.
    if name == "DetectionBatches":
        return _detection_batches_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
