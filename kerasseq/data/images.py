"""Image classification data: MNIST, Fashion-MNIST (IDX files) and CIFAR-10 (a JPEG copy).

Readers return uint8 images ``(N, height, width, channels)`` and int labels, verified by
checksum (see :mod:`kerasseq.data.files`). :func:`image_batches` is the tf.data training
pipeline: the images brought to the model's size (:func:`to_model_size`, shared with the
SavedModel so training and serving prepare pixels alike), the usual augmentation (random crop
of the zero-padded image, horizontal flip, RandAugment, MixUp/CutMix from ``keras.layers``)
and one-hot labels (MixUp/CutMix mix them). Pixels stay in [0, 255]; the model normalises.

CIFAR-10 here is a JPEG copy of the official images (quality 75): accuracies on it are close
to, not the same as, accuracies on the official pixels; say so next to every figure.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import numpy as np

from kerasseq.data.files import dataset_file
from kerasseq.errors import DataError


@dataclass(frozen=True)
class ImageDataset:
    """What the pipeline needs to know about one dataset."""

    name: str
    native_size: int  # height = width of the stored images
    channels: int
    class_names: tuple[str, ...]
    flip: bool  # horizontal flips preserve the class (not for digits)
    mean: tuple[float, ...]  # per-channel pixel mean and std of the training images, in [0, 255]
    std: tuple[float, ...]


DIGITS = tuple(str(i) for i in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# Means/stds measured on the training images of the shared copies (tests re-measure them).
DATASETS = {
    "mnist": ImageDataset("mnist", 28, 1, DIGITS, False, (33.318,), (78.567,)),
    "fashion-mnist": ImageDataset("fashion-mnist", 28, 1, FASHION, False, (72.940,), (90.021,)),
    # Decoded with the accurate integer DCT: the official pixels' (125.3, 123.0, 113.9) to a
    # tenth; TensorFlow's default fast DCT gave (124.1, 123.0, 112.6).
    "cifar10": ImageDataset("cifar10", 32, 3, CIFAR10, True, (125.269, 122.933, 113.863),
                            (62.534, 61.909, 66.460)),
}
SPLITS = ("train", "test")


def dataset_info(name: str) -> ImageDataset:
    if name not in DATASETS:
        raise DataError(f"unknown image dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]


def read_idx(path) -> np.ndarray:
    """An IDX file (gzip-compressed, as distributed): uint8 images ``(N, rows, cols)`` (magic
    2051) or labels ``(N,)`` (magic 2049)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    if magic == 2049:
        count, header = int.from_bytes(data[4:8], "big"), 8
        shape = (count,)
    elif magic == 2051:
        count, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
        header, shape = 16, (count, rows, cols)
    else:
        raise DataError(f"{path} is not an IDX file: magic number {magic}, expected 2049 "
                        "(labels) or 2051 (images)")
    array = np.frombuffer(data, dtype=np.uint8, offset=header)
    if array.size != int(np.prod(shape)):
        raise DataError(f"{path} holds {array.size} values after its header; the header "
                        f"promises {shape}")
    return array.reshape(shape)


def _decode_jpegs(blob: np.ndarray, offsets: np.ndarray, path) -> np.ndarray:
    """TensorFlow's decoder where it is installed, else Pillow's: with TensorFlow's accurate
    integer DCT the two give the same pixels (a test checks; TensorFlow's default fast DCT
    differs by about 1 per pixel)."""
    files = [blob[offsets[i]:offsets[i + 1]].tobytes() for i in range(len(offsets) - 1)]
    try:
        import tensorflow as tf
    except ModuleNotFoundError:
        import io

        from PIL import Image

        images = np.stack([np.asarray(Image.open(io.BytesIO(f)).convert("RGB")) for f in files])
    else:
        ds = tf.data.Dataset.from_tensor_slices(files).map(
            lambda b: tf.io.decode_jpeg(b, channels=3, dct_method="INTEGER_ACCURATE"),
            num_parallel_calls=tf.data.AUTOTUNE)
        images = np.concatenate(list(ds.batch(4096).as_numpy_iterator()), axis=0)
    if images.shape[1:] != (32, 32, 3):
        raise DataError(f"{path}: expected 32×32 RGB JPEG images, got {images.shape[1:]}")
    return images


def load_images(name: str, split: str, data_dir=None, download: bool = False):
    """``(images, labels)`` of one split: uint8 ``(N, size, size, channels)`` and int32 ``(N,)``.

    Args:
        name: ``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"``.
        split: ``"train"`` or ``"test"``.
        data_dir: the data directory (default ``$KERASSEQ_DATA_DIR``).
        download: fetch missing MNIST/Fashion-MNIST files from their sources.
    """
    info = dataset_info(name)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} of {name}; expected one of {SPLITS}")
    if name == "cifar10":
        path = dataset_file(f"cifar10/{split}_jpeg.npz", data_dir, download)
        with np.load(path, allow_pickle=False) as npz:
            images = _decode_jpegs(npz["jpeg"], npz["offsets"], path)
            labels = npz["y"].astype("int32")
    else:
        prefix = "train" if split == "train" else "t10k"
        images_path = dataset_file(f"{name}/{prefix}-images-idx3-ubyte.gz", data_dir, download)
        labels_path = dataset_file(f"{name}/{prefix}-labels-idx1-ubyte.gz", data_dir, download)
        images = read_idx(images_path)[..., None]
        labels = read_idx(labels_path).astype("int32")
    if len(images) != len(labels):
        raise DataError(f"{name} {split}: {len(images)} images but {len(labels)} labels")
    return images, labels


def train_validation_split(images, labels, validation_size: int, seed: int):
    """Hold out ``validation_size`` training images (a seeded random choice) for model
    selection; the test split stays untouched for the reported figure."""
    if not 0 <= validation_size < len(images):
        raise DataError(f"validation_size must be in [0, {len(images)}); got {validation_size}")
    order = np.random.default_rng(seed).permutation(len(images))
    val, train = order[:validation_size], order[validation_size:]
    return (images[train], labels[train]), (images[val], labels[val])


def to_model_size(images, native_size: int, image_size: int):
    """Bring uint8/float images to the model's ``image_size`` (a TF function, used by the
    pipeline and the SavedModel alike): resized to the dataset's ``native_size`` when they
    are not already (bilinear), then zero-padded (MNIST 28 → 32) or resized to ``image_size``.
    Returns float32 pixels in [0, 255]."""
    import tensorflow as tf

    images = tf.cast(images, tf.float32)
    if images.shape[1] != native_size or images.shape[2] != native_size:
        images = tf.image.resize(images, (native_size, native_size))
    if image_size > native_size and (image_size - native_size) <= 8:
        return tf.image.resize_with_crop_or_pad(images, image_size, image_size)
    if image_size != native_size:
        return tf.image.resize(images, (image_size, image_size))
    return images


def image_batches(images, labels, info: ImageDataset, image_size: int, batch_size: int, *,
                  train: bool = False, seed: int = 0, crop_padding: int = 4,
                  randaugment: bool = False, mixup: float = 0.0, cutmix: float = 0.0):
    """A tf.data pipeline of ``(float32 images in [0, 255], one-hot labels)`` batches; where
    TensorFlow is not installed (JAX alone, as on the GPU machine) a ``keras.utils.PyDataset``
    of the same batches (:class:`ImageBatches`: the same preparation and augmentation, drawn
    with NumPy and Keras' own preprocessing layers, not bit-identical to tf.data's draws).

    Args:
        images, labels: from :func:`load_images`.
        info: the dataset's :class:`ImageDataset`.
        image_size: the model's input size (see :func:`to_model_size`).
        batch_size: images per batch (the last, smaller batch is kept for evaluation and
            dropped for training, so every training step has the same shape).
        train: shuffle (seeded) and augment.
        crop_padding: random crop of the image zero-padded by this many pixels (0: none).
        randaugment: apply ``keras.layers.RandAugment`` (Keras' defaults: 2 operations per
            image, factor 0.5).
        mixup, cutmix: alpha of ``keras.layers.MixUp`` / ``CutMix`` (0 disables; when both are
            on, each batch gets one of them with equal probability).
    """
    import keras

    try:
        import tensorflow as tf
    except ModuleNotFoundError:
        from kerasseq.data.image_pydataset import ImageBatches

        return ImageBatches(images, labels, info, image_size, batch_size, train=train, seed=seed,
                            crop_padding=crop_padding, randaugment=randaugment, mixup=mixup,
                            cutmix=cutmix)
    num_classes = len(info.class_names)
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if train:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)

    def prepare(image, label):
        image = to_model_size(image[None], info.native_size, image_size)[0]
        return image, tf.one_hot(label, num_classes)

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if train:
        def augment(image, label):
            if crop_padding:
                padded = tf.pad(image, [[crop_padding] * 2, [crop_padding] * 2, [0, 0]])
                image = tf.image.random_crop(padded, tf.shape(image))
            if info.flip:
                image = tf.image.random_flip_left_right(image)
            return image, label

        ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=train)
    if train and randaugment:
        rand_augment = keras.layers.RandAugment(value_range=(0, 255), seed=seed)
        ds = ds.map(lambda x, y: (rand_augment(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    if train and (mixup or cutmix):
        layers = []  # CutMix's Beta(α, α) parameter is called ``factor`` in Keras
        if mixup:
            layers.append(keras.layers.MixUp(alpha=mixup, seed=seed))
        if cutmix:
            layers.append(keras.layers.CutMix(factor=cutmix, seed=seed))

        def mix(x, y):
            mixed = [layer({"images": x, "labels": y}) for layer in layers]
            if len(mixed) == 1:
                return mixed[0]["images"], mixed[0]["labels"]
            pick = tf.random.uniform(()) < 0.5
            return (tf.where(pick, mixed[0]["images"], mixed[1]["images"]),
                    tf.where(pick, mixed[0]["labels"], mixed[1]["labels"]))

        ds = ds.map(mix, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
