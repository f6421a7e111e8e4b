"""The Weizmann human-action videos as silhouettes (Gorelick et al. 2007): reader,
leave-one-actor-out split and clip pipelines.

Ten actions (bend, jack, jump, pjump, run, side, skip, walk, wave1, wave2) by nine actors; the
shared file ``weizmann/weizmann_silhouettes_64.npz`` holds the dataset's own foreground masks
(not grey-level video) resized to 64 × 64, checked against its SHA-256
(``weizmann_sha256.txt``, shipped with kerasseq). The standard set has 90 videos: lena's
second run, skip and walk are left out unless asked for.

Training sees random clips: ``clip_length`` frames, every ``frame_step``-th frame from a random
start, optionally mirrored and translated; evaluation sees sliding clips that cover each whole video
(:func:`evaluation_clips`), and a video's scores are the mean of its clips'. Videos shorter than a
clip's span repeat their last frame. Batches are float32 frames in [0, 1] with a channel axis:
a ``tf.data`` pipeline on TensorFlow, a ``keras.utils.PyDataset`` without it
(:func:`kerasseq.data.epochs.epoch_dataset`).

References:
    Gorelick, Blank, Shechtman, Irani and Basri 2007, "Actions as space-time shapes", IEEE
    PAMI 29(12).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasseq.data.files import resolve_data_dir, verified_files
from kerasseq.errors import DataError

WEIZMANN_FILE = "weizmann/weizmann_silhouettes_64.npz"
ACTIONS = ("bend", "jack", "jump", "pjump", "run", "side", "skip", "walk", "wave1", "wave2")
ACTORS = ("daria", "denis", "eli", "ido", "ira", "lena", "lyova", "moshe", "shahar")
FRAME_SIZE = 64
_CHECKSUMS = Path(__file__).with_name("weizmann_sha256.txt")
_SOURCE = ("the shared data folder (a repack of original_masks.mat of github shenchao8607/"
           "Action-recognition-using-MHI-based-Hu-moments-with-HMMs, commit 634103bde4c6; see "
           "the data README)")


@dataclass(frozen=True)
class WeizmannVideos:
    """Videos as views of one frame array: video ``i`` is
    ``frames[starts[i]:starts[i] + lengths[i]]``.

    Attributes:
        frames: uint8 ``(total frames, 64, 64)`` silhouettes (0 background, 255 inside the
            person; in-between values on the edges, from the resizing).
        starts, lengths: int ``(videos,)``.
        labels: int ``(videos,)``, indices into :data:`ACTIONS`.
        actors: int ``(videos,)``, indices into :data:`ACTORS`.
        names: ``(videos,)`` strings such as ``"daria_bend"``.
    """

    frames: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    actors: np.ndarray
    names: np.ndarray

    def __len__(self) -> int:
        return len(self.starts)

    def video(self, i: int) -> np.ndarray:
        return self.frames[self.starts[i]:self.starts[i] + self.lengths[i]]

    def subset(self, mask) -> "WeizmannVideos":
        """The videos where ``mask`` is true (or at the given indices); frames are shared."""
        pick = lambda a: a[mask]  # noqa: E731
        return WeizmannVideos(self.frames, pick(self.starts), pick(self.lengths),
                              pick(self.labels), pick(self.actors), pick(self.names))


def load_weizmann(data_dir=None, second_repetitions: bool = False) -> WeizmannVideos:
    """The Weizmann silhouette videos, verified against their SHA-256.

    Args:
        data_dir: the data directory (default ``$KERASSEQ_DATA_DIR``).
        second_repetitions: keep lena's second run, skip and walk (93 videos); the standard
            set (default) has 90, one per actor and action.

    Raises:
        DataError: the file is missing, fails its checksum or is not the expected archive.

    Example:
    >>> videos = load_weizmann()
    >>> len(videos), videos.video(0).shape
    (90, (84, 64, 64))
    """
    root = resolve_data_dir(data_dir)
    if not (root / WEIZMANN_FILE).is_file():
        raise DataError(f"{WEIZMANN_FILE} is missing from the data directory {root}; it has no "
                        f"download source: copy it from {_SOURCE}")
    (path,) = verified_files(_CHECKSUMS, "weizmann/", "", _SOURCE, root, only={WEIZMANN_FILE})
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in ("frames", "offsets", "label", "actor", "video_names",
                                           "actor_names", "class_names", "is_second_repetition")}
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path} is not the Weizmann silhouette archive: {exc}") from exc
    if tuple(arrays["class_names"]) != ACTIONS or tuple(arrays["actor_names"]) != ACTORS:
        raise DataError(f"{path} lists other actions or actors than kerasseq expects")
    offsets = arrays["offsets"].astype(np.int64)
    videos = WeizmannVideos(arrays["frames"], offsets[:-1], np.diff(offsets),
                            arrays["label"].astype(np.int32), arrays["actor"].astype(np.int32),
                            arrays["video_names"])
    return videos if second_repetitions else videos.subset(~arrays["is_second_repetition"])


def actor_split(videos: WeizmannVideos, fold: int) -> tuple[WeizmannVideos, WeizmannVideos]:
    """``(train, test)`` of leave-one-actor-out fold ``fold``: the test videos are actor
    ``ACTORS[fold]``'s, the training videos the other eight actors'."""
    if not 0 <= fold < len(ACTORS):
        raise ValueError(f"Expected fold in [0, {len(ACTORS) - 1}]. Received: fold={fold}")
    test = videos.actors == fold
    return videos.subset(~test), videos.subset(test)


def clip_span(clip_length: int, frame_step: int) -> int:
    """Frames of the video one clip spans."""
    return (clip_length - 1) * frame_step + 1


def clip_frame_indices(length: int, start: int, clip_length: int, frame_step: int) -> np.ndarray:
    """Frame indices of the clip from ``start``; past the video's end the last frame repeats."""
    return np.minimum(start + frame_step * np.arange(clip_length), length - 1)


def evaluation_starts(length: int, clip_length: int, frame_step: int, stride: int) -> np.ndarray:
    """Starts of the sliding clips of a video of ``length`` frames: every ``stride`` frames,
    and one more whose clip ends at the last frame, so every frame is inside a clip (a video
    shorter than a clip's span has one clip, from frame 0)."""
    last = max(length - clip_span(clip_length, frame_step), 0)
    return np.unique(np.append(np.arange(0, last + 1, stride), last))


def evaluation_clips(videos: WeizmannVideos, clip_length: int, frame_step: int,
                     stride: int) -> np.ndarray:
    """``(clips, 3)`` int rows ``(video, start, flip = 0)`` of every video's sliding clips,
    video by video."""
    rows = [(i, s, 0) for i in range(len(videos))
            for s in evaluation_starts(int(videos.lengths[i]), clip_length, frame_step, stride)]
    return np.asarray(rows, np.int64).reshape(-1, 3)


def training_clips(videos: WeizmannVideos, clips_per_video: int, clip_length: int,
                   frame_step: int, flip: bool, rng: np.random.Generator) -> np.ndarray:
    """``(videos · clips_per_video, 3)`` rows ``(video, start, flip)`` in random order: each
    video's clips start anywhere their span fits and are mirrored with probability 1/2 when
    ``flip``."""
    video = np.repeat(np.arange(len(videos)), clips_per_video)
    room = np.maximum(videos.lengths[video] - clip_span(clip_length, frame_step), 0)
    start = rng.integers(0, room + 1)
    mirror = rng.random(len(video)) < 0.5 if flip else np.zeros(len(video), bool)
    return np.stack([video, start, mirror], axis=1)[rng.permutation(len(video))].astype(np.int64)


def clip_batch(videos: WeizmannVideos, rows: np.ndarray, clip_length: int, frame_step: int,
               shift: int = 0, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The clips of ``rows`` (``(video, start, flip)``) as float32 ``(n, clip_length, 64, 64,
    1)`` frames in [0, 1], and their int32 labels ``(n,)``; with ``shift`` > 0 each clip is
    moved by a random offset of up to ``shift`` pixels in each direction (the uncovered border
    is background)."""
    index = np.stack([videos.starts[v] + clip_frame_indices(int(videos.lengths[v]), s, clip_length,
                                                            frame_step) for v, s, _ in rows])
    clips = videos.frames[index]  # (n, clip_length, 64, 64)
    mirror = rows[:, 2].astype(bool)
    clips[mirror] = clips[mirror][..., ::-1]
    if shift:
        padded = np.pad(clips, ((0, 0), (0, 0), (shift, shift), (shift, shift)))
        size = clips.shape[-1]
        for k, (dy, dx) in enumerate(rng.integers(0, 2 * shift + 1, (len(clips), 2))):
            clips[k] = padded[k, :, dy:dy + size, dx:dx + size]
    return (clips[..., None].astype(np.float32) / 255.0), videos.labels[rows[:, 0]].astype(np.int32)


def clip_dataset(videos: WeizmannVideos, clip_length: int, frame_step: int, batch_size: int, *,
                 train: bool, clips_per_video: int = 1, flip: bool = False, shift: int = 0,
                 stride: int = 8, seed: int = 0, first_epoch: int = 0):
    """Batches of ``(clips (n, clip_length, 64, 64, 1) float32, labels (n,) int32)``.

    Args:
        videos: the videos to draw from.
        clip_length, frame_step: frames per clip and the step between them.
        batch_size: clips per batch (training drops the last incomplete batch).
        train: random clips (:func:`training_clips`), new ones every epoch; else the fixed
            sliding clips of :func:`evaluation_clips`, in order.
        clips_per_video, flip, shift: training clips per video and epoch, mirroring, and the
            largest random translation in pixels (:func:`clip_batch`).
        stride: evaluation: frames between consecutive clips' starts.
        seed, first_epoch: the draws of epoch ``e`` are seeded by ``(seed, e)``, so a resumed
            run continues the sequence.

    Returns:
        A ``tf.data.Dataset`` with TensorFlow, else a ``keras.utils.PyDataset``.

    Example:
    >>> train, test = actor_split(load_weizmann(), fold=0)
    >>> ds = clip_dataset(train, 16, 2, 16, train=True, clips_per_video=4, flip=True)
    """
    from kerasseq.data.epochs import epoch_dataset

    if train:
        def plan(epoch):
            rows = training_clips(videos, clips_per_video, clip_length, frame_step, flip,
                                  np.random.default_rng([seed, epoch]))
            return [rows[i:i + batch_size] for i in range(0, len(rows) - batch_size + 1, batch_size)]
    else:
        rows = evaluation_clips(videos, clip_length, frame_step, stride)
        batches = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
        plan = lambda epoch: batches  # noqa: E731
    if not plan(first_epoch):
        raise DataError(f"{len(videos)} videos give no batch of {batch_size} training clips; "
                        "lower --batch_size or raise --clips_per_video")
    signature = None
    try:
        import tensorflow as tf

        signature = (tf.TensorSpec((None, clip_length, FRAME_SIZE, FRAME_SIZE, 1), tf.float32),
                     tf.TensorSpec((None,), tf.int32))
    except ModuleNotFoundError:
        pass
    shifts = np.random.default_rng([seed, first_epoch, 1])  # translations (training only)
    load = lambda rows: clip_batch(videos, rows, clip_length, frame_step,  # noqa: E731
                                   shift if train else 0, shifts)
    return epoch_dataset(plan, load, signature, first_epoch)


def video_scores(clip_scores: np.ndarray, clip_videos: np.ndarray, count: int) -> np.ndarray:
    """``(count, classes)``: each video's mean over its clips' scores (rows of
    ``clip_scores`` belong to videos ``clip_videos``)."""
    totals = np.zeros((count, clip_scores.shape[1]), np.float64)
    np.add.at(totals, clip_videos, clip_scores)
    return totals / np.maximum(np.bincount(clip_videos, minlength=count), 1)[:, None]
