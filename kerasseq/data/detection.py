"""Multi-digit detection canvases from real MNIST digits, for DETR, and their COCO ground truth.

Each canvas is a ``canvas_size`` square grayscale image (128 × 128 by default) holding
``min_objects``–``max_objects`` MNIST digits. A digit is cropped to its ink, rescaled
(PIL bilinear, which antialiases when it shrinks) so that the longer side of its ink is a
random size in ``scale_range`` (16–48 px, aspect ratio kept), and placed at a random
position fully inside the canvas; digits may overlap partly (box IoU at most ``max_iou``,
0.3) and are combined by the pixel-wise maximum, so no ink is hidden. Its box is the tight
box around its own ink after resizing (pixels ≥ :data:`INK_THRESHOLD`), its class the
digit's label 0–9.

Boxes follow DETR: normalised ``(cx, cy, w, h)`` in [0, 1] of the canvas, where pixel ``i``
covers ``[i, i + 1)``, so a box from pixel column ``x0`` to ``x1`` inclusive has
``w = (x1 + 1 - x0) / canvas_size``. :func:`cxcywh_to_xyxy` gives pixel ``(x0, y0, x1, y1)``
boxes (``x1`` exclusive) as COCO tools and plots want them.

Splits never share a digit: ``"train"`` canvases use the MNIST training digits except the
last ``validation_digits`` (5,000), ``"validation"`` canvases use exactly those held-out
digits, ``"test"`` canvases the MNIST t10k digits (the data README's protocol). Training
canvases are drawn on the fly, different every epoch; validation (500) and test (2,000)
canvases are fixed sets, the same for a given seed on every machine (pure NumPy and PIL).
:func:`detection_dataset` serves them as tf.data, :class:`DetectionBatches` as a Keras
``PyDataset`` where TensorFlow is not installed.

COCO ground truth (:func:`coco_ground_truth`): image ``i`` has id ``i + 1``, annotation ids
count from 1 (pycocotools treats id 0 as "unmatched"), and digit ``d`` is category id
``d + 1`` named ``"d"`` (:data:`CATEGORY_ID_OFFSET`; COCO reserves 0 for the background in
many tools).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasseq.data.files import resolve_data_dir
from kerasseq.errors import UserError

SPLITS = ("train", "validation", "test")
DEFAULT_CANVASES = {"train": 10_000, "validation": 500, "test": 2_000}  # train: per epoch
INK_THRESHOLD = 1  # a resized uint8 pixel at least this bright is ink (i.e. any non-zero pixel)
CATEGORY_ID_OFFSET = 1  # COCO category id of digit d is d + 1
_PLACEMENT_TRIES = 100  # positions tried per digit before accepting more overlap than max_iou
MNIST_TRAIN_DIGITS = 60_000


@dataclass(frozen=True)
class DigitSource:
    """The MNIST digits one split draws from.

    ``indices`` are the digits' positions in their MNIST file (``"train"`` file for the train
    and validation splits, ``"t10k"`` for test), so splits can be checked for overlap.
    """

    digits: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray  # (N,) int32
    indices: np.ndarray  # (N,) int64
    mnist_file: str  # "train" or "t10k"


@dataclass(frozen=True)
class DetectionSet:
    """A fixed set of canvases with padded targets (``T = max_objects``).

    ``digit_indices`` say which MNIST digit (its position in the split's MNIST file) each
    object is; padding is -1 in ``labels`` and ``digit_indices`` and 0 in ``boxes``.
    """

    images: np.ndarray  # (n, S, S) uint8
    boxes: np.ndarray  # (n, T, 4) float32, normalised (cx, cy, w, h)
    labels: np.ndarray  # (n, T) int32
    digit_indices: np.ndarray  # (n, T) int64
    mnist_file: str

    def __len__(self) -> int:
        return len(self.images)


def _check_canvas_args(canvas_size, min_objects, max_objects, scale_range,
                       max_iou) -> tuple[int, int]:
    if int(canvas_size) < 1:
        raise UserError(f"canvas_size must be a positive number of pixels; received "
                        f"canvas_size={canvas_size}")
    if min_objects < 0 or max_objects < 1:
        raise UserError("min_objects must be >= 0 and max_objects >= 1; received "
                        f"min_objects={min_objects}, max_objects={max_objects}")
    if min_objects > max_objects:
        raise UserError("min_objects must be <= max_objects; received "
                        f"min_objects={min_objects}, max_objects={max_objects}")
    try:
        low, high = (int(v) for v in scale_range)
    except (TypeError, ValueError):
        raise UserError("scale_range must be two pixel sizes (low, high); received "
                        f"scale_range={scale_range!r}") from None
    if not 1 <= low <= high:
        raise UserError("scale_range must satisfy 1 <= low <= high; received "
                        f"scale_range={tuple(scale_range)}")
    if not 0.0 <= max_iou <= 1.0:
        raise UserError(f"max_iou must be in [0, 1]; received max_iou={max_iou}")
    if high > canvas_size:
        raise UserError(f"scale_range's largest digit size must fit the canvas (<= canvas_size="
                        f"{canvas_size}); received scale_range={tuple(scale_range)}")
    return low, high


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise UserError(f"unknown detection split {split!r}; expected one of {SPLITS}")


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one pixel ``(x0, y0, x1, y1)`` box with each of ``others`` ``(n, 4)``."""
    width = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = width * height
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / (area + areas - inter)


def _resize(crop: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image  # a matplotlib dependency, so always installed with kerasseq

    return np.asarray(Image.fromarray(crop).resize((width, height), Image.BILINEAR))


def make_canvas(rng: np.random.Generator, digits, labels, canvas_size: int = 128,
                min_objects: int = 1, max_objects: int = 6, scale_range=(16, 48),
                max_iou: float = 0.3, return_indices: bool = False):
    """One canvas of randomly scaled and placed digits, its boxes and labels (NumPy and PIL).

    Args:
        rng: the ``numpy.random.Generator`` that draws everything.
        digits: uint8 digit images ``(N, h, w)`` or ``(N, h, w, 1)`` with ink > 0 on black.
        labels: their classes ``(N,)``.
        canvas_size: side of the square canvas in pixels.
        min_objects, max_objects: the number of digits is uniform in this range (inclusive).
        scale_range: ``(low, high)``: the longer side of a digit's ink is rescaled to a
            uniform integer size in this range (inclusive), in pixels.
        max_iou: a digit is moved (up to 100 random positions, then kept where it is) until
            its box overlaps every box placed before it with IoU at most this; 1 allows any
            overlap.
        return_indices: also return which of ``digits`` each object is.

    Returns:
        ``(image, boxes, labels)``: uint8 ``(S, S)``, float32 ``(n, 4)`` normalised
        ``(cx, cy, w, h)`` tight around each digit's own ink, int32 ``(n,)``; plus int64
        ``(n,)`` indices into ``digits`` when ``return_indices``.

    Raises:
        UserError: bad sizes or counts, or a digit without ink.

    Example:
    >>> rng = np.random.default_rng(0)
    >>> digits = np.zeros((1, 28, 28), np.uint8); digits[0, 4:24, 10:18] = 255
    >>> image, boxes, labels = make_canvas(rng, digits, [7], max_objects=2)
    >>> image.shape, boxes.shape[1], set(labels.tolist())
    ((128, 128), 4, {7})
    """
    low, high = _check_canvas_args(canvas_size, min_objects, max_objects, scale_range, max_iou)
    digits = np.asarray(digits)
    if digits.ndim == 4:
        digits = digits[..., 0]
    labels = np.asarray(labels)
    count = int(rng.integers(min_objects, max_objects + 1))
    picks = rng.integers(0, len(digits), count).astype(np.int64)
    image = np.zeros((canvas_size, canvas_size), np.uint8)
    placed = np.zeros((count, 4), np.float64)  # pixel (x0, y0, x1, y1) of each digit's ink
    for n, k in enumerate(picks):
        digit = digits[k]
        rows, cols = np.flatnonzero(digit.any(1)), np.flatnonzero(digit.any(0))
        if rows.size == 0:
            raise UserError(f"digit {k} has no ink (all pixels are 0); expected a digit image")
        crop = np.ascontiguousarray(digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
        factor = int(rng.integers(low, high + 1)) / max(crop.shape)
        height = max(1, round(crop.shape[0] * factor))
        width = max(1, round(crop.shape[1] * factor))
        patch = _resize(crop, height, width)
        # The box is measured after resizing: bilinear sampling can fade an edge row to 0.
        ink = patch >= INK_THRESHOLD
        ink_rows, ink_cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
        if ink_rows.size == 0:
            raise UserError(f"digit {k} has no ink left after resizing to {height}×{width} px; "
                            "expected brighter digits or a larger scale_range")
        for _ in range(_PLACEMENT_TRIES):
            y = int(rng.integers(0, canvas_size - height + 1))
            x = int(rng.integers(0, canvas_size - width + 1))
            box = np.array([x + ink_cols[0], y + ink_rows[0], x + ink_cols[-1] + 1,
                            y + ink_rows[-1] + 1], np.float64)
            if n == 0 or _iou(box, placed[:n]).max() <= max_iou:
                break
        placed[n] = box
        region = image[y:y + height, x:x + width]
        np.maximum(region, patch, out=region)
    x0, y0, x1, y1 = placed.T
    boxes = np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], -1)
    boxes = (boxes / canvas_size).astype(np.float32).reshape(count, 4)
    result = (image, boxes, labels[picks].astype(np.int32))
    return result + (picks,) if return_indices else result


@functools.lru_cache(maxsize=4)
def _cached_source(split: str, data_dir: str, download: bool,
                   validation_digits: int) -> DigitSource:
    from kerasseq.data.images import load_images

    mnist_split = "test" if split == "test" else "train"
    images, labels = load_images("mnist", mnist_split, data_dir, download)
    indices = np.arange(len(images), dtype=np.int64)
    if split != "test":
        cut = len(images) - validation_digits
        indices = indices[:cut] if split == "train" else indices[cut:]
    digits, labels = images[indices, ..., 0], labels[indices]
    for array in (digits, labels, indices):
        array.setflags(write=False)
    return DigitSource(digits, labels, indices, "t10k" if split == "test" else "train")


def load_digits(split: str, data_dir=None, download: bool = False,
                validation_digits: int = 5_000) -> DigitSource:
    """The MNIST digits a detection split draws from (cached per process).

    Args:
        split: ``"train"`` (MNIST train minus its last ``validation_digits``),
            ``"validation"`` (those last ``validation_digits``) or ``"test"`` (MNIST t10k).
        data_dir: the data directory (default ``$KERASSEQ_DATA_DIR``).
        download: fetch missing MNIST files from their source.
        validation_digits: how many training digits are held out for validation canvases.

    Example:
    >>> source = load_digits("validation")
    >>> source.digits.shape, int(source.indices[0])
    ((5000, 28, 28), 55000)
    """
    _check_split(split)
    if not 1 <= validation_digits < MNIST_TRAIN_DIGITS:
        raise UserError(f"validation_digits must be in [1, {MNIST_TRAIN_DIGITS}); received "
                        f"validation_digits={validation_digits}")
    return _cached_source(split, str(resolve_data_dir(data_dir)), bool(download),
                          int(validation_digits))


def _canvas_batch(entropy: np.ndarray, source: DigitSource, canvas_size, min_objects,
                  max_objects, scale_range, max_iou):
    """Canvases for rows of seed entropy ``(n, k)``: canvas ``i`` is drawn by
    ``default_rng(entropy[i])``, so it does not depend on batching or on the other canvases."""
    n = len(entropy)
    images = np.zeros((n, canvas_size, canvas_size), np.uint8)
    boxes = np.zeros((n, max_objects, 4), np.float32)
    labels = np.full((n, max_objects), -1, np.int32)
    indices = np.full((n, max_objects), -1, np.int64)
    for i, row in enumerate(entropy):
        rng = np.random.default_rng([int(v) for v in row])
        image, b, l, picks = make_canvas(rng, source.digits, source.labels, canvas_size,
                                         min_objects, max_objects, scale_range, max_iou,
                                         return_indices=True)
        images[i], boxes[i, :len(b)], labels[i, :len(l)] = image, b, l
        indices[i, :len(picks)] = source.indices[picks]
    return images, boxes, labels, indices


def make_canvases(n: int, seed: int = 0, split: str = "test", data_dir=None,
                  download: bool = False, canvas_size: int = 128, min_objects: int = 1,
                  max_objects: int = 6, scale_range=(16, 48), max_iou: float = 0.3,
                  validation_digits: int = 5_000) -> DetectionSet:
    """A fixed, seeded set of ``n`` canvases from one split's digits.

    Canvas ``i`` depends only on ``(seed, split, i)`` and the arguments, so the first ``k``
    canvases of a larger set are the set of ``k``.

    Args:
        n: number of canvases.
        seed: seed of the set (keep it fixed so every run is scored on the same canvases).
        split: ``"train"``, ``"validation"`` or ``"test"`` (which digits; see
            :func:`load_digits`).
        data_dir, download, validation_digits: as in :func:`load_digits`.
        canvas_size, min_objects, max_objects, scale_range, max_iou: as in
            :func:`make_canvas`.

    Returns:
        A :class:`DetectionSet` (targets padded to ``max_objects``).

    Example:
    >>> test = make_canvases(4, seed=0, split="test")
    >>> test.images.shape, test.boxes.shape, test.labels.shape
    ((4, 128, 128), (4, 6, 4), (4, 6))
    """
    _check_split(split)
    _check_canvas_args(canvas_size, min_objects, max_objects, scale_range, max_iou)
    if n < 0 or seed < 0:
        raise UserError(f"the number of canvases and the seed must be >= 0; received n={n}, "
                        f"seed={seed}")
    source = load_digits(split, data_dir, download, validation_digits)
    entropy = np.stack([np.full(n, seed), np.full(n, SPLITS.index(split)), np.arange(n)], 1)
    images, boxes, labels, indices = _canvas_batch(entropy, source, canvas_size, min_objects,
                                                   max_objects, tuple(scale_range), max_iou)
    return DetectionSet(images, boxes, labels, indices, source.mnist_file)


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
                      max_iou: float = 0.3, validation_digits: int = 5_000):
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
    epoch = [0]

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
            min_objects, max_objects, scale_range, max_iou, validation_digits: as in
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
                     max_iou: float = 0.3, validation_digits: int = 5_000):
            super().__init__()
            scale_range, num_canvases = _check_pipeline_args(
                split, batch_size, seed, num_canvases, canvas_size, min_objects, max_objects,
                scale_range, max_iou)
            self.split, self.batch_size, self.seed, self.epoch = split, batch_size, seed, 0
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


def cxcywh_to_xyxy(boxes, canvas_size: int = 128) -> np.ndarray:
    """Normalised ``(cx, cy, w, h)`` boxes to pixel ``(x0, y0, x1, y1)`` (``x1`` exclusive).

    Args:
        boxes: ``(..., 4)`` normalised boxes.
        canvas_size: side of the canvas in pixels.

    Example:
    >>> cxcywh_to_xyxy(np.array([[0.5, 0.5, 0.25, 0.125]]), 128).tolist()
    [[48.0, 56.0, 80.0, 72.0]]
    """
    boxes = np.asarray(boxes, np.float64)
    centre, size = boxes[..., :2], boxes[..., 2:]
    return np.concatenate([centre - size / 2, centre + size / 2], -1) * canvas_size


def coco_ground_truth(boxes_list, labels_list, canvas_size: int = 128,
                      file_names=None) -> dict:
    """COCO-format ground truth (a dict any COCO tool reads) for a list of canvases.

    Image ``i`` gets id ``i + 1``; annotations count from 1; ``bbox`` is pixel
    ``[x, y, w, h]``, ``area = w * h`` (box area, as there are no masks), ``iscrowd = 0``;
    categories are ``"0"``..``"9"`` with ids 1..10 (digit + :data:`CATEGORY_ID_OFFSET`).

    Args:
        boxes_list: per canvas, normalised ``(cx, cy, w, h)`` boxes ``(n, 4)``, e.g. the
            ``boxes`` of a :class:`DetectionSet` (padding rows are dropped by their label).
        labels_list: per canvas, digit labels ``(n,)``; -1 marks padding.
        canvas_size: side of the canvases in pixels.
        file_names: optional image file names (default ``"000001.png"`` ...).

    Example:
    >>> gt = coco_ground_truth([[[0.5, 0.5, 0.25, 0.25]]], [[3]])
    >>> gt["annotations"][0]["bbox"], gt["annotations"][0]["category_id"]
    ([48.0, 48.0, 32.0, 32.0], 4)
    """
    if len(boxes_list) != len(labels_list):
        raise UserError(f"expected one labels array per boxes array; received "
                        f"{len(boxes_list)} boxes arrays and {len(labels_list)} labels arrays")
    images, annotations = [], []
    for i, (boxes, labels) in enumerate(zip(boxes_list, labels_list)):
        labels = np.asarray(labels).reshape(-1)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)[:len(labels)]
        name = file_names[i] if file_names is not None else f"{i + 1:06d}.png"
        images.append({"id": i + 1, "file_name": name, "width": canvas_size,
                       "height": canvas_size})
        keep = labels >= 0
        for box, label in zip(cxcywh_to_xyxy(boxes[keep], canvas_size), labels[keep]):
            x0, y0, x1, y1 = (round(float(v), 4) for v in box)
            w, h = round(x1 - x0, 4), round(y1 - y0, 4)
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1,
                                "category_id": int(label) + CATEGORY_ID_OFFSET,
                                "bbox": [x0, y0, w, h], "area": round(w * h, 4),
                                "iscrowd": 0})
    categories = [{"id": d + CATEGORY_ID_OFFSET, "name": str(d), "supercategory": "digit"}
                  for d in range(10)]
    return {"info": {"description": "kerasseq multi-digit MNIST detection canvases"},
            "images": images, "annotations": annotations, "categories": categories}


def write_coco_json(path, boxes_list, labels_list, canvas_size: int = 128,
                    file_names=None) -> Path:
    """Write :func:`coco_ground_truth` of the canvases to the JSON file ``path``.

    Args:
        path: the JSON file to write (its folder is created).
        boxes_list, labels_list, canvas_size, file_names: as in :func:`coco_ground_truth`.

    Example:
    >>> write_coco_json("/tmp/gt.json", [[[0.5, 0.5, 0.25, 0.25]]], [[3]]).name
    'gt.json'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ground_truth = coco_ground_truth(boxes_list, labels_list, canvas_size, file_names)
    path.write_text(json.dumps(ground_truth))
    return path


def write_detection_set(directory, split: str = "test", num_canvases: int | None = None,
                        seed: int = 0, images: bool = False, **kwargs) -> Path:
    """Write a fixed split's COCO ground truth (``annotations.json``) and optionally its PNGs.

    Args:
        directory: output folder; gets ``annotations.json`` and, with ``images``, the
            canvases as ``000001.png`` ... (the ``file_name`` of each COCO image).
        split: ``"test"`` (default, 2,000 canvases) or ``"validation"`` (500).
        num_canvases: override the number of canvases.
        seed: the set's seed (see :func:`make_canvases`).
        images: also write the canvases as 8-bit grayscale PNG files.
        **kwargs: ``data_dir``, ``download``, ``canvas_size``, ``min_objects``,
            ``max_objects``, ``scale_range``, ``max_iou``, ``validation_digits`` of
            :func:`make_canvases`.

    Returns:
        The path of ``annotations.json``.

    Example:
    >>> write_detection_set("/tmp/mnist-detection-test", num_canvases=10).name
    'annotations.json'
    """
    _check_split(split)
    if split == "train":
        raise UserError("split must be 'validation' or 'test' (training canvases are drawn "
                        "on the fly); received split='train'")
    n = DEFAULT_CANVASES[split] if num_canvases is None else num_canvases
    canvases = make_canvases(n, seed, split, **kwargs)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"{i + 1:06d}.png" for i in range(len(canvases))]
    if images:
        from PIL import Image

        for name, image in zip(names, canvases.images):
            Image.fromarray(image).save(directory / name)
    return write_coco_json(directory / "annotations.json", canvases.boxes, canvases.labels,
                           canvases.images.shape[1], names)
