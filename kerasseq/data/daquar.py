"""DAQUAR visual question answering (Malinowski & Fritz 2014): the reader, the question and
answer vocabularies and the batches of the ``vqa`` task.

The shared copy (see the data README, ``daquar/``) holds the question/answer files of the
full set (``qa.894.raw.{train,test}.txt``: 6,795 / 5,673 pairs) and of the reduced set with
37 object classes (``qa.37.raw.train.txt`` / ``qa.37.raw.reduced.test.txt``: 3,876 / 297
pairs), the official 795 / 654 image split and ``images.zip`` (1,449 NYU-Depth v2 JPEGs of
169 × 128 pixels). Every file is checked against its SHA-256 (``daquar_sha256.txt``, shipped
with kerasseq).

The files alternate a question line and an answer line. The image is named in the question
("... in the image42 ?"); one question of the full training set has the typo "th eimage999",
which :func:`parse_qa` repairs (and counts). An answer line is a comma-separated list of
answer items ("table, chair"); a *single-word* answer is a line of one item (items such as
``tape_dispenser`` are one word). Following Ren et al. (2015), the classifier's classes are
the single-word answers of the training questions, and the reported figures are on the
single-word test questions; the training questions with a multi-word answer are left out of
training, and the test questions with one are left out of the evaluation; both counts are
reported (:class:`QASet` keeps them).

Questions are lower-cased, the image name ("image42") becomes the word ``image`` (the
identity of an image is no word a model should learn), and they are split into runs of
letters, digits and underscores. Question ids: 0 padding, 1 unknown, then the words.

The validation set is held out from the training *images*: a seeded choice of
``validation_fraction`` of the training images with all their questions, so no validation
image is seen in training. The test set is the official test file.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasseq.data.files import manifest_checksums, resolve_data_dir, sha256_of
from kerasseq.data.text import WordVocabulary
from kerasseq.errors import DataError

QA_FILES = {("reduced", "train"): "qa.37.raw.train.txt",
            ("reduced", "test"): "qa.37.raw.reduced.test.txt",
            ("full", "train"): "qa.894.raw.train.txt",
            ("full", "test"): "qa.894.raw.test.txt"}
QUESTION_SETS = ("reduced", "full")
NATIVE_SIZE = (169, 128)  # width, height of the shared copy's images
_CHECKSUMS = Path(__file__).with_name("daquar_sha256.txt")
_IMAGE = re.compile(r"image(\d+)")
_TYPO = re.compile(r"\bth eimage(\d+)")  # one question of qa.894.raw.train.txt
_VERIFIED: set[str] = set()


def daquar_file(name: str, data_dir=None) -> Path:
    """The verified path of ``daquar/<name>`` (checked against ``daquar_sha256.txt``).

    Raises:
        DataError: the file is missing or its checksum is wrong (the message names it).
    """
    relpath = f"daquar/{name}"
    expected = manifest_checksums(_CHECKSUMS, "daquar/").get(relpath)
    if expected is None:
        raise DataError(f"unknown DAQUAR file {relpath!r}")
    path = resolve_data_dir(data_dir) / relpath
    if not path.is_file():
        raise DataError(f"{relpath} is missing from the data directory {path.parents[1]}; get the "
                        "DAQUAR files as the shared data README (daquar/) describes")
    if str(path) not in _VERIFIED:
        actual = sha256_of(path)
        if actual != expected:
            raise DataError(f"{path} is corrupt or a different version: sha256 {actual[:12]}..., "
                            f"expected {expected[:12]}...; replace it with the shared data "
                            "folder's copy")
        _VERIFIED.add(str(path))
    return path


@dataclass
class QASet:
    """The question/answer pairs of one file.

    Attributes:
        images: the image number of every question (``image42`` → 42).
        questions: the raw questions (the typo repaired).
        answers: the answer items of every question (a tuple; one item: a single-word answer).
        typos_fixed: questions whose "th eimage" typo was repaired.
    """

    images: list[int]
    questions: list[str]
    answers: list[tuple[str, ...]]
    typos_fixed: int = 0

    def __len__(self) -> int:
        return len(self.questions)

    def single_word(self) -> np.ndarray:
        """Boolean mask of the questions with a single-word answer."""
        return np.array([len(a) == 1 for a in self.answers], bool)

    def subset(self, keep) -> "QASet":
        index = np.flatnonzero(np.asarray(keep)) if np.asarray(keep).dtype == bool else keep
        return QASet([self.images[i] for i in index], [self.questions[i] for i in index],
                     [self.answers[i] for i in index], self.typos_fixed)


def parse_qa(lines: list[str], source: str = "the QA file") -> QASet:
    """Parse alternating question / answer lines (blank lines at the end are ignored).

    Raises:
        DataError: an odd number of lines, a question naming no image, or an empty answer.
    """
    lines = [line.rstrip("\n") for line in lines]
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) % 2:
        raise DataError(f"{source}: {len(lines)} lines; expected question/answer pairs")
    images, questions, answers, typos = [], [], [], 0
    for k in range(0, len(lines), 2):
        question, answer = lines[k].strip(), lines[k + 1].strip()
        if _TYPO.search(question):
            question, typos = _TYPO.sub(r"the image\1", question), typos + 1
        found = set(_IMAGE.findall(question))  # some questions name their image twice
        if len(found) != 1:
            raise DataError(f"{source}, line {k + 1}: expected the name of one image (imageN) in "
                            f"the question, got {question[:80]!r}")
        items = tuple(item.strip() for item in answer.split(","))
        if not all(items):
            raise DataError(f"{source}, line {k + 2}: an empty answer item in {answer!r}")
        images.append(int(found.pop()))
        questions.append(question)
        answers.append(items)
    return QASet(images, questions, answers, typos)


def load_qa(question_set: str, split: str, data_dir=None) -> QASet:
    """The pairs of DAQUAR's ``question_set`` (reduced or full), ``split`` (train or test)."""
    if (question_set, split) not in QA_FILES:
        raise DataError(f"unknown DAQUAR question set / split {question_set!r} / {split!r}; "
                        f"expected {' or '.join(QUESTION_SETS)} / train or test")
    path = daquar_file(QA_FILES[question_set, split], data_dir)
    return parse_qa(path.read_text(encoding="utf-8").splitlines(), str(path))


def split_images(split: str, data_dir=None) -> list[int]:
    """The official image split (``train.txt`` / ``test.txt``) as image numbers."""
    if split not in ("train", "test"):
        raise DataError(f"unknown DAQUAR image split {split!r}; expected train or test")
    path = daquar_file(f"{split}.txt", data_dir)
    return [int(_IMAGE.fullmatch(line.strip()).group(1))
            for line in path.read_text().splitlines() if line.strip()]


def validation_images(train_images, fraction: float, seed: int = 0) -> set[int]:
    """A seeded choice of ``fraction`` of ``train_images`` (at least one when > 0)."""
    images = sorted(set(train_images))
    count = int(round(fraction * len(images)))
    if fraction > 0:
        count = max(1, count)
    order = np.random.default_rng(seed).permutation(len(images))
    return {images[i] for i in order[:count]}


def tokenize(question: str) -> list[str]:
    """Words of a question: ``"What is left of the chair in the image42 ?"`` → ``["what",
    "is", "left", "of", "the", "chair", "in", "the", "image"]``."""
    text = _IMAGE.sub("image", _TYPO.sub(r"the image\1", question.lower()))
    return re.findall(r"[a-z0-9_]+", text)


QUESTION_TYPES = ("colour", "count", "other")
_COLOUR = re.compile(r"\bcolou?rs?\b")


def question_type(question: str) -> str:
    """The kind of answer a DAQUAR question asks for: ``"colour"`` (it names a colour or
    colours: "what is the colour of the sofa ...", "what color is ..."), ``"count"`` ("how
    many ...") or ``"other"`` (objects, mostly: "what is on the table ..."); the answer types
    by which VQA results are broken down (Antol et al. 2015's yes/no, number, other; DAQUAR
    has no yes/no questions).

    Example:
        >>> question_type("how many chairs are in the image12 ?")
        'count'
    """
    text = question.lower().strip()
    if text.startswith("how many"):
        return "count"
    return "colour" if _COLOUR.search(text) else "other"


def build_question_vocabulary(questions: list[str], min_count: int = 1) -> WordVocabulary:
    return WordVocabulary.from_sentences((tokenize(q) for q in questions), min_count=min_count)


def build_answer_classes(answers: list[tuple[str, ...]]) -> list[str]:
    """The classes: the distinct single-word answers, most frequent first (ties alphabetical)."""
    from collections import Counter

    counts = Counter(a[0] for a in answers if len(a) == 1)
    return sorted(counts, key=lambda a: (-counts[a], a))


def encode_questions(questions: list[str], vocab: WordVocabulary, max_length: int) -> np.ndarray:
    """int32 ``(n, max_length)`` question ids, zero-padded (longer questions are cut)."""
    return vocab.encode_batch([tokenize(q) for q in questions], max_length)


def encode_answers(answers: list[tuple[str, ...]], classes: list[str]) -> np.ndarray:
    """int32 class ids; -1 for a multi-word answer or one that is not a class."""
    index = {a: i for i, a in enumerate(classes)}
    return np.array([index.get(a[0], -1) if len(a) == 1 else -1 for a in answers], np.int32)


def load_images(numbers, size: int, data_dir=None) -> dict[int, np.ndarray]:
    """``{image number: uint8 (size, size, 3)}`` from ``images.zip``, resized to a square
    (bilinear, antialiased; the 169 × 128 aspect is not kept). TensorFlow decodes and resizes
    where it is installed (as the SavedModel does), Pillow where it is not."""
    path = daquar_file("images.zip", data_dir)
    numbers = sorted(set(numbers))
    with zipfile.ZipFile(path) as archive:
        known = set(archive.namelist())
        missing = [n for n in numbers if f"image{n}.jpg" not in known]
        if missing:
            raise DataError(f"{path} has no image{missing[0]}.jpg ({len(missing)} images missing)")
        data = [archive.read(f"image{n}.jpg") for n in numbers]
    try:
        import tensorflow as tf
    except ModuleNotFoundError:
        return dict(zip(numbers, _decode_with_pillow(data, size)))

    def decode(raw):
        image = tf.io.decode_jpeg(raw, channels=3, dct_method="INTEGER_ACCURATE")
        image = tf.image.resize(image, (size, size), antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)

    ds = tf.data.Dataset.from_tensor_slices(data).map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    images = np.concatenate(list(ds.batch(256).as_numpy_iterator())) if data else \
        np.zeros((0, size, size, 3), np.uint8)
    return dict(zip(numbers, images))


def _decode_with_pillow(data, size: int) -> list[np.ndarray]:
    import io

    from PIL import Image

    out = []
    for raw in data:
        with Image.open(io.BytesIO(raw)) as image:
            out.append(np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR)))
    return out


def vqa_batches(images: np.ndarray, image_index: np.ndarray, questions: np.ndarray,
                targets: np.ndarray, *, batch_size: int, train: bool, seed: int = 0, first_epoch: int = 0,
                shift: int = 0):
    """Batches ``({"images": uint8 (b, S, S, 3), "question": int32 (b, T)}, int32 (b,))``: a
    new shuffle every epoch when ``train`` (whole batches only), in order otherwise. tf.data
    where TensorFlow is installed, a ``keras.utils.PyDataset`` where it is not. No flips: the
    questions speak of left and right.

    Args:
        images: uint8 ``(m, S, S, 3)``, the distinct images.
        image_index: int ``(n,)``, the row of ``images`` of every question.
        questions: int32 ``(n, T)`` question ids.
        targets: int32 ``(n,)`` answer classes.
        shift: in training, translate every image by up to ``shift`` pixels each way (a
            random crop of the edge-padded image), drawn per (seed, epoch, batch).
    """
    from kerasseq.data.flickr8k import crop_images
    from kerasseq.data.epochs import epoch_dataset, shuffled_batches

    plan = shuffled_batches(len(questions), batch_size, train, seed)

    def load(item):
        epoch, k, index = item
        batch = images[image_index[index]]
        if train and shift:
            rng = np.random.default_rng([seed, epoch, k, 1])
            padded = np.pad(batch, [(0, 0), (shift, shift), (shift, shift), (0, 0)], mode="edge")
            batch = crop_images(padded, batch.shape[1], rng)
        return {"images": batch, "question": questions[index]}, targets[index]

    signature = None
    try:
        import tensorflow as tf

        size, steps = images.shape[1], questions.shape[1]
        signature = ({"images": tf.TensorSpec((None, size, size, 3), tf.uint8),
                      "question": tf.TensorSpec((None, steps), tf.int32)},
                     tf.TensorSpec((None,), tf.int32))
    except ModuleNotFoundError:
        pass
    return epoch_dataset(plan, load, signature, first_epoch=first_epoch)
