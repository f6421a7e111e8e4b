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
:mod:`kerasseq.data.detection_pipelines` serves them for training: as tf.data
(``detection_dataset``), or as a Keras ``PyDataset`` where TensorFlow is not installed
(``DetectionBatches``).

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
