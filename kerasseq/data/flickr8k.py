"""Flickr8k image captions (Hodosh, Young & Hockenmaier 2013): the reader, the caption
vocabulary and the training batches of the captioning task.

The shared copy (see the data README) has 8,091 JPEG images of 160 × 160 pixels, five
captions per image, and the standard 6,000 / 1,000 / 1,000 split. Every file is checked
against its SHA-256 (the images against ``flickr8k_sha256.txt``, shipped with kerasseq).

Captions are lower-cased and split into runs of letters and digits (punctuation dropped),
as Karpathy's preprocessing of the Flickr and COCO caption sets does; the vocabulary keeps
training words seen at least ``min_count`` times. Ids: 0 padding, 1 unknown, 2 ``<start>``,
3 ``<end>`` (the ids :mod:`kerasseq.decoding` expects), then the words, most frequent first.

A training batch holds images with **all five** of their captions: the encoder runs once per
image and the decoder on its five captions, so an epoch sees all 30,000 training captions at
the cost of 6,000 encoder passes.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np

from kerasseq.data.files import dataset_file, verified_files
from kerasseq.data.text import WordVocabulary
from kerasseq.errors import DataError

SPLITS = {"train": "Flickr_8k.trainImages.txt", "dev": "Flickr_8k.devImages.txt",
          "test": "Flickr_8k.testImages.txt"}
CAPTIONS_PER_IMAGE = 5
NATIVE_SIZE = 160  # the shared copy's images are 160 × 160
START, END = "<start>", "<end>"
_CHECKSUMS = Path(__file__).with_name("flickr8k_sha256.txt")
# In the original caption file: five captions of an image that does not exist.
_KNOWN_ORPHANS = {"2258277193_586949ec62.jpg.1"}


def tokenize(caption: str) -> list[str]:
    """Lower-cased runs of letters and digits: ``"A dog's ball."`` → ``["a", "dog", "s", "ball"]``."""
    return re.findall(r"[a-z0-9]+", caption.lower())


def load_captions(data_dir=None, download: bool = False) -> dict[str, list[str]]:
    """``{image file name: its five raw captions}`` from ``Flickr8k.token.txt.gz``.

    Raises:
        DataError: a malformed line, or an image without exactly five captions.
    """
    path = dataset_file("flickr8k/Flickr8k.token.txt.gz", data_dir, download)
    captions: dict[str, list[str]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            key, sep, caption = line.rstrip("\n").partition("\t")
            name, hash_sign, _ = key.rpartition("#")
            if not sep or not hash_sign:
                raise DataError(f"{path}, line {number}: expected '<image>.jpg#<k><TAB>caption', "
                                f"got {line[:80]!r}")
            if name not in _KNOWN_ORPHANS:
                captions.setdefault(name, []).append(caption.strip())
    wrong = [name for name, found in captions.items() if len(found) != CAPTIONS_PER_IMAGE]
    if wrong:
        raise DataError(f"{path}: {len(wrong)} images do not have {CAPTIONS_PER_IMAGE} captions "
                        f"(e.g. {wrong[0]})")
    return captions


def split_images(split: str, data_dir=None, download: bool = False) -> list[str]:
    """The image file names of ``split`` (train, dev or test), in the split file's order."""
    if split not in SPLITS:
        raise DataError(f"unknown Flickr8k split {split!r}; expected one of {', '.join(SPLITS)}")
    path = dataset_file(f"flickr8k/{SPLITS[split]}", data_dir, download)
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def image_paths(names: list[str], data_dir=None) -> list[Path]:
    """The verified paths of the images ``names`` (each checked against its SHA-256)."""
    known = _image_checksums()
    missing = [n for n in names if f"flickr8k/images/{n}" not in known]
    if missing:
        raise DataError(f"{len(missing)} images are not in the Flickr8k release, e.g. {missing[0]}")
    verified = verified_files(_CHECKSUMS, "flickr8k/images/", "", "the shared data folder "
                              "(its README: Flickr8k, resized to 160×160)", data_dir,
                              only={f"flickr8k/images/{n}" for n in names})
    by_name = {p.name: p for p in verified}
    return [by_name[n] for n in names]


def _image_checksums() -> dict[str, str]:
    from kerasseq.data.files import manifest_checksums

    return manifest_checksums(_CHECKSUMS, "flickr8k/images/")


def load_split(split: str, data_dir=None, download: bool = False, limit: int = 0):
    """``(names, captions)`` of ``split``: image file names and their five raw captions each
    (the first ``limit`` images when ``limit`` > 0)."""
    names = split_images(split, data_dir, download)
    if limit:
        names = names[:limit]
    captions = load_captions(data_dir, download)
    absent = [n for n in names if n not in captions]
    if absent:
        raise DataError(f"{len(absent)} {split} images have no captions, e.g. {absent[0]}")
    return names, [captions[n] for n in names]


def build_vocabulary(captions: list[list[str]], min_count: int = 5) -> WordVocabulary:
    """The caption vocabulary of the training captions: ``<start>``, ``<end>`` (ids 2, 3), then
    the words seen at least ``min_count`` times."""
    vocab = WordVocabulary.from_sentences((tokenize(c) for five in captions for c in five),
                                          min_count=min_count)
    return WordVocabulary([START, END] + vocab.tokens)


def encode_captions(captions: list[list[str]], vocab: WordVocabulary, max_length: int):
    """``(inputs, targets)``, int32 ``(images, 5, max_length)`` each: ``<start> w1 .. wn`` and
    ``w1 .. wn <end>``, zero-padded; a caption of ``max_length`` words or more is cut to its
    first ``max_length − 1`` words (then ``<end>``)."""
    count = len(captions)
    inputs = np.zeros((count, CAPTIONS_PER_IMAGE, max_length), np.int32)
    targets = np.zeros_like(inputs)
    for i, five in enumerate(captions):
        for k, caption in enumerate(five):
            ids = vocab.lookup(tokenize(caption))[:max_length - 1]
            inputs[i, k, :len(ids) + 1] = [2, *ids]
            targets[i, k, :len(ids) + 1] = [*ids, 3]
    return inputs, targets


def decode_caption(ids, vocab: WordVocabulary) -> str:
    """The words of one decoded id row, up to its ``<end>`` (padding and ``<end>`` dropped)."""
    words = []
    for i in np.asarray(ids).tolist():
        if i in (0, 3):
            break
        words.append(vocab.tokens[i - 2] if i >= 2 else WordVocabulary.UNK)
    return " ".join(words)


def load_images(names: list[str], size: int, data_dir=None) -> np.ndarray:
    """The images ``names`` as uint8 ``(n, size, size, 3)``, decoded and resized once
    (bilinear, with antialiasing) from the verified files."""
    paths = image_paths(names, data_dir)
    try:
        import tensorflow as tf
    except ModuleNotFoundError:
        return _load_with_pillow(paths, size)

    def read(path):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3, dct_method="INTEGER_ACCURATE")
        if size != NATIVE_SIZE:
            image = tf.image.resize(image, (size, size), antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(tf.cast(image, tf.float32)), 0, 255), tf.uint8)

    ds = tf.data.Dataset.from_tensor_slices([str(p) for p in paths]).map(
        read, num_parallel_calls=tf.data.AUTOTUNE)
    images = np.concatenate(list(ds.batch(512).as_numpy_iterator()), axis=0) if paths else \
        np.zeros((0, size, size, 3), np.uint8)
    return images


def _load_with_pillow(paths, size: int) -> np.ndarray:
    from PIL import Image

    out = np.zeros((len(paths), size, size, 3), np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.size != (size, size):
                image = image.resize((size, size), Image.BILINEAR)
            out[i] = np.asarray(image)
    return out


def crop_images(images: np.ndarray, crop: int, rng=None, flip: bool = False) -> np.ndarray:
    """``crop`` × ``crop`` windows of ``images`` ``(n, s, s, 3)``: at random offsets (and
    mirrored left-right with probability 1/2 when ``flip``) given ``rng``, else centred."""
    count, size = images.shape[0], images.shape[1]
    if crop > size:
        raise ValueError(f"Expected crop <= image size {size}. Received: crop={crop}")
    if rng is None:
        start = (size - crop) // 2
        return images[:, start:start + crop, start:start + crop]
    top = rng.integers(0, size - crop + 1, count)
    left = rng.integers(0, size - crop + 1, count)
    rows = top[:, None] + np.arange(crop)
    cols = left[:, None] + np.arange(crop)
    out = images[np.arange(count)[:, None, None], rows[:, :, None], cols[:, None, :]]
    if flip:
        mirror = rng.random(count) < 0.5
        out = np.where(mirror[:, None, None, None], out[:, :, ::-1], out)
    return out


def caption_batches(images: np.ndarray, inputs: np.ndarray, targets: np.ndarray, *, crop: int,
                    batch_size: int, train: bool, seed: int = 0, first_epoch: int = 0):
    """Batches ``({"images": uint8 (b, crop, crop, 3), "captions_in": (b, 5, T)}, targets
    (b, 5, T))``: a new shuffle, random crops and flips every epoch when ``train``, centred
    crops in order otherwise (the last batch may be smaller). tf.data where TensorFlow is
    installed, a ``keras.utils.PyDataset`` where it is not."""
    from kerasseq.data.epochs import epoch_dataset, shuffled_batches

    plan = shuffled_batches(len(images), batch_size, train, seed)

    def load(item):
        epoch, k, index = item
        rng = np.random.default_rng([seed, epoch, k, 1]) if train else None
        batch = crop_images(images[index], crop, rng, flip=train)
        return {"images": batch, "captions_in": inputs[index]}, targets[index]

    signature = None
    try:
        import tensorflow as tf

        steps = inputs.shape[2]
        signature = ({"images": tf.TensorSpec((None, crop, crop, 3), tf.uint8),
                      "captions_in": tf.TensorSpec((None, CAPTIONS_PER_IMAGE, steps), tf.int32)},
                     tf.TensorSpec((None, CAPTIONS_PER_IMAGE, steps), tf.int32))
    except ModuleNotFoundError:
        pass
    return epoch_dataset(plan, load, signature, first_epoch=first_epoch)
