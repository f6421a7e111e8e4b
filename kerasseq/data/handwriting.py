"""IAM On-Line Handwriting Database lines (Liwicki & Bunke 2005) for handwriting prediction
(Graves 2013, section 4): reader, the paper's split, normalisation and padded batches.

The shared folder holds a converted form (see the data README, "handwriting/"):
``handwriting/iam_ondb_lines.npz`` (every line's pen offsets ``(dx, dy, pen_up)`` in raw
tablet units, ``pen_up = 1`` on the last point of each stroke) and
``handwriting/transcriptions.tsv`` (``line_id, split, text``), checked against their SHA-256
(``handwriting_sha256.txt``, shipped with kerasseq). IAM-OnDB is for non-commercial research
and asks every user to register with its authors: kerasseq never ships or copies it.

The split is Graves' (IAM-OnDB-t1): train 5,364, val1 1,438, val2 1,518, test 3,859 lines.
A line of ``n`` points gives ``n − 1`` next-point predictions: the model reads points
``0 .. n−2`` (point 0 is the line's origin, ``(0, 0, 0)``) and predicts points ``1 .. n−1``.
Offsets are divided by their standard deviation over the training lines' predicted points
(:func:`offset_scale`, no centring); the end-of-stroke bit stays 0/1.

Batches are ``(inputs (batch, length, 3), targets (batch, length, 4))`` float32, the targets'
last channel 1 on real points and 0 on padding; lines are grouped by length (buckets of
``bucket_width`` points) so a batch carries little padding: a ``tf.data`` pipeline with
TensorFlow, a ``keras.utils.PyDataset`` without it (:func:`kerasseq.data.epochs.epoch_dataset`).

References:
    Liwicki and Bunke 2005, "IAM-OnDB - an on-line English sentence database acquired from
    handwritten text on a whiteboard", ICDAR. Graves 2013, "Generating sequences with
    recurrent neural networks", arXiv:1308.0850, section 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasseq.data.files import resolve_data_dir, verified_files
from kerasseq.errors import DataError, UserError

LINES_FILE = "handwriting/iam_ondb_lines.npz"
TEXT_FILE = "handwriting/transcriptions.tsv"
SPLITS = {"train": 0, "val1": 1, "val2": 2, "test": 3}
LENGTH_POLICIES = ("truncate", "skip")
_CHECKSUMS = Path(__file__).with_name("handwriting_sha256.txt")
_SOURCE = ("IAM-OnDB (register with its authors at fki.inf.unibe.ch/databases/iam-on-line-"
           "handwriting-database), converted as the shared data README's handwriting/ section "
           "describes")


@dataclass(frozen=True)
class HandwritingLines:
    """Lines as views of one point array: line ``i`` is
    ``strokes[starts[i]:starts[i] + lengths[i]]``.

    Attributes:
        strokes: float32 ``(points, 3)`` rows ``(dx, dy, pen_up)`` in raw tablet units (y down).
        starts, lengths: int64 ``(lines,)``.
        line_ids: ``(lines,)`` strings such as ``"a01-000u-01"``.
        split: int8 ``(lines,)``: :data:`SPLITS` codes, −1 for lines in no split.
        texts: ``(lines,)`` transcriptions (empty for the 8 lines of form ``z01-000z``).
    """

    strokes: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    line_ids: np.ndarray
    split: np.ndarray
    texts: np.ndarray

    def __len__(self) -> int:
        return len(self.starts)

    def line(self, i: int) -> np.ndarray:
        return self.strokes[self.starts[i]:self.starts[i] + self.lengths[i]]

    def subset(self, mask) -> "HandwritingLines":
        """The lines where ``mask`` is true (or at the given indices); points are shared."""
        pick = lambda a: a[mask]  # noqa: E731
        return HandwritingLines(self.strokes, pick(self.starts), pick(self.lengths),
                                pick(self.line_ids), pick(self.split), pick(self.texts))


def load_iam_ondb(data_dir=None) -> HandwritingLines:
    """Every IAM-OnDB line of the converted files, verified against their SHA-256.

    Args:
        data_dir: the data directory (default ``$KERASSEQ_DATA_DIR``).

    Raises:
        DataError: a file is missing, fails its checksum, or does not have the expected layout.

    Example:
    >>> lines = load_iam_ondb()
    >>> len(lines), lines.line(0).shape
    (12195, (568, 3))
    """
    root = resolve_data_dir(data_dir)
    for relpath in (LINES_FILE, TEXT_FILE):
        if not (root / relpath).is_file():
            raise DataError(f"{relpath} is missing from the data directory {root}; it has no "
                            f"download source: get it from {_SOURCE}")
    lines_path, text_path = verified_files(_CHECKSUMS, "handwriting/", "", _SOURCE, root,
                                           only={LINES_FILE, TEXT_FILE})
    try:
        with np.load(lines_path, allow_pickle=False) as data:
            strokes, offsets = data["strokes"], data["offsets"].astype(np.int64)
            line_ids, split = data["line_ids"], data["split"].astype(np.int8)
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{lines_path} is not the converted IAM-OnDB line archive: {exc}") from exc
    rows = [row.split("\t") for row in text_path.read_text(encoding="utf-8").splitlines()[1:]]
    if strokes.ndim != 2 or strokes.shape[1] != 3 or len(rows) != len(line_ids) \
            or any(r[0] != i for r, i in zip(rows, line_ids)):
        raise DataError(f"{lines_path} and {text_path} do not list the same lines in the same "
                        "order, or the strokes are not (points, 3)")
    texts = np.asarray([r[2] if len(r) > 2 else "" for r in rows], dtype=object)
    return HandwritingLines(strokes, offsets[:-1], np.diff(offsets), line_ids, split, texts)


def split_lines(lines: HandwritingLines, names) -> HandwritingLines:
    """The lines of the named splits, e.g. ``("train", "val2")``; unknown names are a
    UserError listing :data:`SPLITS`."""
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [n for n in names if n not in SPLITS]
    if unknown or not names:
        raise UserError(f"unknown IAM-OnDB split(s) {unknown or names}; known: {', '.join(SPLITS)}")
    return lines.subset(np.isin(lines.split, [SPLITS[n] for n in names]))


def offset_scale(lines: HandwritingLines) -> np.ndarray:
    """float64 ``(2,)``: the standard deviation of ``dx`` and ``dy`` over the predicted points
    of ``lines`` (every point but each line's origin), the normalisation of all splits."""
    index = np.concatenate([np.arange(s + 1, s + n) for s, n in zip(lines.starts, lines.lengths)])
    return lines.strokes[index, :2].astype(np.float64).std(axis=0)


def limit_length(lines: HandwritingLines, max_points: int, policy: str = "truncate"):
    """Lines of at most ``max_points`` points (0: no limit), and what that cost.

    Args:
        lines: the lines.
        max_points: the longest line kept whole.
        policy: ``"truncate"`` cuts longer lines to their first ``max_points`` points (the cut
            line ends without an end of stroke); ``"skip"`` leaves them out.

    Returns:
        ``(lines, report)`` with ``report = {"lines", "long_lines", "points_dropped"}``: the
        lines given, how many were longer, and how many of their points were dropped.
    """
    if policy not in LENGTH_POLICIES:
        raise UserError(f"--length_policy must be one of {', '.join(LENGTH_POLICIES)}; got {policy!r}")
    long = lines.lengths > max_points if max_points else np.zeros(len(lines), bool)
    report = {"lines": len(lines), "long_lines": int(long.sum()),
              "points_dropped": int((lines.lengths[long] - max_points).sum()) if max_points else 0}
    if policy == "skip":
        report["points_dropped"] = int(lines.lengths[long].sum())
        return lines.subset(~long), report
    lengths = np.minimum(lines.lengths, max_points) if max_points else lines.lengths
    return HandwritingLines(lines.strokes, lines.starts, lengths, lines.line_ids, lines.split,
                            lines.texts), report


def normalise(points: np.ndarray, scale) -> np.ndarray:
    """float32 rows ``(dx / sx, dy / sy, pen_up)`` of raw rows ``(..., 3)``."""
    out = np.array(points, np.float32)
    out[..., :2] /= np.asarray(scale, np.float32)
    return out


def line_batch(lines: HandwritingLines, indices, scale, length: int | None = None):
    """``(inputs (n, length, 3), targets (n, length, 4))`` float32 of the lines ``indices``:
    inputs are each line's normalised points ``0 .. m−2``, targets its points ``1 .. m−1``
    with a validity channel (1 real, 0 padding); padding is zeros. ``length`` defaults to the
    longest line's ``m − 1``."""
    indices = np.asarray(indices, np.int64)
    steps = lines.lengths[indices] - 1
    length = int(steps.max()) if length is None else int(length)
    inputs = np.zeros((len(indices), length, 3), np.float32)
    targets = np.zeros((len(indices), length, 4), np.float32)
    for row, (i, n) in enumerate(zip(indices, steps)):
        points = normalise(lines.line(i)[:n + 1], scale)
        inputs[row, :n] = points[:-1]
        targets[row, :n, :3] = points[1:]
        targets[row, :n, 3] = 1.0
    return inputs, targets


def text_alphabet(lines: HandwritingLines) -> str:
    """The characters of the lines' transcriptions, sorted: character ``k`` of it has id
    ``k + 1`` (0 is padding) in :func:`encode_texts`."""
    return "".join(sorted(set("".join(lines.texts))))


def encode_texts(texts, alphabet: str, length: int | None = None):
    """int32 ``(n, length)`` character ids of ``texts`` (id ``k + 1`` for ``alphabet[k]``,
    0-padded on the right; ``length`` defaults to the longest text), and the count of
    characters outside ``alphabet`` (given id 0, as padding: the window skips nothing but sees
    no character there)."""
    index = {ch: k + 1 for k, ch in enumerate(alphabet)}
    length = max((len(t) for t in texts), default=0) if length is None else int(length)
    ids = np.zeros((len(texts), max(length, 1)), np.int32)
    unknown = 0
    for row, text in enumerate(texts):
        codes = [index.get(ch, 0) for ch in text[:length]]
        unknown += codes.count(0)
        ids[row, :len(codes)] = codes
    return ids, unknown


def line_dataset(lines: HandwritingLines, scale, batch_size: int, *, train: bool,
                 bucket_width: int = 200, seed: int = 0, first_epoch: int = 0,
                 alphabet: str | None = None):
    """Padded batches of whole lines (:func:`line_batch`), grouped by length.

    Args:
        lines: the lines (after :func:`limit_length`); each needs at least 2 points.
        scale: the ``(sx, sy)`` of :func:`offset_scale` (of the training lines).
        batch_size: lines per batch.
        train: batches in a new seeded order every epoch, each length group's last partial
            batch left for a later epoch; else every line once, in a fixed order.
        bucket_width: lines are padded to the next multiple of this many points, at most
            to the longest line (one compiled shape per length group).
        seed, first_epoch: epoch ``e`` draws with ``(seed, e)``; a resumed run continues.
        alphabet: for the synthesis network, the inputs become ``(strokes, characters)``
            with each line's text as int32 ids ``(batch, U)`` (:func:`encode_texts`).

    Returns:
        A ``tf.data.Dataset`` with TensorFlow, else a ``keras.utils.PyDataset``, of
        ``(inputs (batch, length, 3), targets (batch, length, 4))``, or of
        ``((inputs, characters (batch, U)), targets)`` with ``alphabet``.

    Example:
    >>> train = split_lines(load_iam_ondb(), ("train", "val2"))
    >>> ds = line_dataset(train, offset_scale(train), 32, train=True)
    """
    from kerasseq.data.buckets import BucketedBatches
    from kerasseq.data.epochs import epoch_dataset

    if len(lines) == 0 or lines.lengths.min() < 2:
        raise DataError("handwriting batches need lines of at least 2 points; got "
                        f"{len(lines)} lines, the shortest of {lines.lengths.min() if len(lines) else 0}")
    steps = lines.lengths - 1
    longest = int(steps.max())  # the last bucket is the longest line, not the next multiple
    buckets = tuple(range(bucket_width, longest, bucket_width)) + (longest,)
    groups = BucketedBatches(steps, batch_size, shuffle=train, seed=seed, buckets=buckets)
    if groups.num_batches == 0:
        raise DataError(f"{len(lines)} lines give no full batch of {batch_size} in any length "
                        "group; lower --batch_size or raise --bucket_width")

    def plan(epoch):
        groups._epoch = epoch
        return groups.epoch()[1]

    signature = None
    try:
        import tensorflow as tf

        signature = (tf.TensorSpec((None, None, 3), tf.float32),
                     tf.TensorSpec((None, None, 4), tf.float32))
        if alphabet is not None:
            signature = ((signature[0], tf.TensorSpec((None, None), tf.int32)), signature[1])
    except ModuleNotFoundError:
        pass

    def load(item):
        inputs, targets = line_batch(lines, item[1], scale, item[0])
        if alphabet is None:
            return inputs, targets
        return (inputs, encode_texts(lines.texts[item[1]], alphabet)[0]), targets

    return epoch_dataset(plan, load, signature, first_epoch)


def absolute_points(offsets: np.ndarray) -> np.ndarray:
    """Pen positions ``(n, 2)`` of offset rows ``(n, ≥2)`` (their running sum, from 0)."""
    return np.cumsum(np.asarray(offsets, np.float64)[:, :2], axis=0)
