"""ETH/UCY pedestrian trajectories in the leave-one-scene-out protocol of Social GAN.

The five scenes (ETH: ``eth``, ``hotel``; UCY: ``univ``, ``zara1``, ``zara2``) come as
``eth-ucy/<held-out scene>/{train,val,test}/*.txt`` files of ``frame pedestrian x y`` rows,
positions in metres, one frame every 0.4 s. Windows are cut exactly as Social GAN's loader
(Gupta et al. 2018, ``sgan/data/trajectories.py``) cuts them, so that the published tables and
ours score the same trajectories:

- the frames of a file are its distinct frame ids in order (a gap in the ids is not a gap in
  the window: Social GAN's convention), and a window is every run of ``observed + predicted``
  (8 + 12 = 20) consecutive frames, stride 1;
- a pedestrian is **scored** in a window when it is present in all 20 frames; a window is kept
  when it has at least ``min_scored`` (default 1) scored pedestrians.

With these rules the constant-velocity baseline lands on Schöller et al.'s figures (computed
with Social GAN's loader) in every scene: ADE hotel 0.32, univ 0.52, zara1 0.43, zara2 0.32,
FDE eth 2.28 (364 test trajectories in eth).

Social GAN drops every other pedestrian from the window; we keep them, marked frame by frame in
``present``, as **neighbours** (they enter or leave mid-window): a model may pool over them
where it could see them (observed frames), and they are never scored. Their number is
reported in :attr:`TrajectoryWindows.counts` (``partial_tracks``), as are the windows that
Social GAN's rule drops, so nothing leaves the evaluation silently.

The windows are stored flat, as Social GAN stores them: every pedestrian-window is one row of
``tracks`` and window ``w`` owns rows ``offsets[w]:offsets[w + 1]``; :func:`pad_windows`
pads a group of windows into ``(windows, pedestrians, frames, ...)`` arrays for a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerasseq.data.files import verified_files
from kerasseq.errors import DataError

SCENES = ("eth", "hotel", "univ", "zara1", "zara2")
SPLITS = ("train", "val", "test")
OBSERVED, PREDICTED = 8, 12  # 3.2 s observed, 4.8 s predicted
SECONDS_PER_FRAME = 0.4

SOURCE_COMMIT = "1031c7bd1a444273af378c1ec1dcca907ba59830"
SOURCE_URL = (f"https://raw.githubusercontent.com/StanfordASL/Trajectron-plus-plus/{SOURCE_COMMIT}"
              "/experiments/pedestrians/raw")  # holds <scene>/<split>/*.txt as eth-ucy/ does
SOURCE = f"the StanfordASL/Trajectron-plus-plus repository at commit {SOURCE_COMMIT}"
_CHECKSUMS = Path(__file__).with_name("eth_ucy_sha256.txt")  # same format as SHA256SUMS


@dataclass(frozen=True)
class TrajectoryWindows:
    """Windows of one split, flat: every pedestrian of every window is a row.

    Rows of ``tracks`` hold NaN where the pedestrian is absent (``present`` False).
    """

    tracks: np.ndarray  # float32 (rows, frames, 2): x, y in metres
    present: np.ndarray  # bool (rows, frames)
    scored: np.ndarray  # bool (rows,): present in every frame of the window
    offsets: np.ndarray  # int64 (windows + 1,): window w owns rows offsets[w]:offsets[w + 1]
    origin: np.ndarray  # int64 (windows, 2): file index, first frame id
    files: tuple[str, ...]
    counts: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def pedestrians(self) -> np.ndarray:
        """Rows per window, ``(windows,)``."""
        return np.diff(self.offsets)

    def subset(self, windows) -> "TrajectoryWindows":
        """The windows ``windows`` (indices), in that order."""
        windows = np.asarray(windows, np.int64)
        rows = np.concatenate([np.arange(self.offsets[w], self.offsets[w + 1]) for w in windows]) \
            if len(windows) else np.zeros(0, np.int64)
        sizes = self.pedestrians[windows]
        scored = self.scored[rows]
        # Counts of the subset itself (the dropped windows belong to the full set's story).
        counts = dict(windows=len(windows), scored_tracks=int(scored.sum()),
                      partial_tracks=int((~scored).sum()))
        return TrajectoryWindows(self.tracks[rows], self.present[rows], scored,
                                 np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                                 self.origin[windows], self.files, counts)


def read_trajectory_file(path) -> np.ndarray:
    """Rows ``frame, pedestrian, x, y`` of one ETH/UCY file as float64 ``(N, 4)``.

    Raises:
        DataError: a line that is not four numbers, or non-finite values (the message names
            the file and the line).
    """
    path = Path(path)
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                values = [float(v) for v in parts]
            except ValueError:
                values = []
            if len(values) != 4 or not np.all(np.isfinite(values)):
                raise DataError(f"{path}, line {number}: expected four numbers "
                                f"'frame pedestrian x y' separated by tabs; got {line.strip()!r}")
            rows.append(values)
    if not rows:
        raise DataError(f"{path} holds no trajectory rows (expected 'frame pedestrian x y' lines)")
    return np.asarray(rows, np.float64)


def cut_windows(rows: np.ndarray, frames: int = OBSERVED + PREDICTED, min_scored: int = 1,
                file_index: int = 0):
    """Social GAN's windows of one file's rows (see the module docstring).

    Returns:
        ``(tracks, present, scored, sizes, origin, counts)``: the flat rows of every kept
        window, the pedestrians per window, ``(file_index, first frame id)`` per window and
        the counts of kept and dropped windows and tracks.
    """
    frame_ids = np.unique(rows[:, 0])
    people = np.unique(rows[:, 1])
    t = np.searchsorted(frame_ids, rows[:, 0])
    p = np.searchsorted(people, rows[:, 1])
    grid = np.full((len(frame_ids), len(people), 2), np.nan, np.float32)
    grid[t, p] = np.round(rows[:, 2:4], 4)  # Social GAN rounds to 4 decimals
    seen = np.zeros((len(frame_ids), len(people)), bool)
    seen[t, p] = True
    tracks, present, scored, sizes, origin = [], [], [], [], []
    counts = dict(windows=0, scored_tracks=0, partial_tracks=0, dropped_windows=0,
                  dropped_scored_tracks=0)
    for start in range(len(frame_ids) - frames + 1):
        window = seen[start:start + frames]  # (frames, people)
        inside = np.flatnonzero(window.any(axis=0))
        full = window[:, inside].all(axis=0)
        if full.sum() < min_scored:
            counts["dropped_windows"] += 1
            counts["dropped_scored_tracks"] += int(full.sum())
            continue
        order = np.concatenate([inside[full], inside[~full]])  # scored pedestrians first
        tracks.append(np.transpose(grid[start:start + frames, order], (1, 0, 2)))
        present.append(window[:, order].T)
        scored.append(np.arange(len(order)) < full.sum())
        sizes.append(len(order))
        origin.append((file_index, int(frame_ids[start])))
        counts["windows"] += 1
        counts["scored_tracks"] += int(full.sum())
        counts["partial_tracks"] += int((~full).sum())
    if not tracks:
        empty = np.zeros((0, frames), bool)
        return (np.zeros((0, frames, 2), np.float32), empty, np.zeros(0, bool),
                np.zeros(0, np.int64), np.zeros((0, 2), np.int64), counts)
    return (np.concatenate(tracks), np.concatenate(present), np.concatenate(scored),
            np.asarray(sizes, np.int64), np.asarray(origin, np.int64), counts)


def trajectory_files(scene: str, split: str, data_dir=None, download: bool = False) -> list[Path]:
    """The verified files of one split of the fold that holds out ``scene``."""
    if scene not in SCENES:
        raise DataError(f"unknown ETH/UCY scene {scene!r}; expected one of {', '.join(SCENES)}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return verified_files(_CHECKSUMS, f"eth-ucy/{scene}/{split}/", SOURCE_URL, SOURCE,
                          data_dir, download, source_strip="eth-ucy/")


def load_windows(scene: str, split: str, data_dir=None, download: bool = False,
                 observed: int = OBSERVED, predicted: int = PREDICTED,
                 min_scored: int = 1) -> TrajectoryWindows:
    """Every window of one split of the leave-``scene``-out fold.

    Args:
        scene: the held-out scene, one of :data:`SCENES` (its ``test`` split is that scene;
            ``train`` and ``val`` are the other four).
        split: ``"train"``, ``"val"`` or ``"test"``.
        data_dir: the data directory (default ``$KERASSEQ_DATA_DIR``).
        download: fetch missing files from Trajectron++'s copy.
        observed, predicted: frames observed and predicted (8 and 12 in the literature).
        min_scored: keep windows with at least this many pedestrians present throughout.

    Example:
    >>> test = load_windows("eth", "test")
    >>> len(test), int(test.scored.sum())  # windows, scored pedestrian-windows
    """
    if observed < 2 or predicted < 1 or min_scored < 1:
        raise DataError(f"expected observed >= 2, predicted >= 1 and min_scored >= 1; got "
                        f"observed={observed}, predicted={predicted}, min_scored={min_scored}")
    paths = trajectory_files(scene, split, data_dir, download)
    parts = [cut_windows(read_trajectory_file(path), observed + predicted, min_scored, i)
             for i, path in enumerate(paths)]
    counts = {key: sum(part[5][key] for part in parts) for key in parts[0][5]}
    sizes = np.concatenate([part[3] for part in parts])
    return TrajectoryWindows(
        np.concatenate([part[0] for part in parts]), np.concatenate([part[1] for part in parts]),
        np.concatenate([part[2] for part in parts]),
        np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        np.concatenate([part[4] for part in parts]), tuple(p.name for p in paths), counts)


def pad_windows(windows: TrajectoryWindows, indices, multiple: int = 8):
    """Windows ``indices`` padded to one pedestrian count (rounded up to ``multiple``, so a
    compiled model sees few distinct shapes).

    Returns:
        ``(positions, present, scored)``: float32 ``(n, P, frames, 2)`` with 0 where absent,
        bool ``(n, P, frames)`` and bool ``(n, P)``.
    """
    indices = np.asarray(indices, np.int64)
    sizes = windows.pedestrians[indices]
    peds = int(-(-max(int(sizes.max()), 1) // multiple) * multiple)
    frames = windows.tracks.shape[1]
    positions = np.zeros((len(indices), peds, frames, 2), np.float32)
    present = np.zeros((len(indices), peds, frames), bool)
    scored = np.zeros((len(indices), peds), bool)
    for i, w in enumerate(indices):
        rows = slice(windows.offsets[w], windows.offsets[w + 1])
        n = sizes[i]
        positions[i, :n] = np.nan_to_num(windows.tracks[rows])
        present[i, :n] = windows.present[rows]
        scored[i, :n] = windows.scored[rows]
    return positions, present, scored


def batch_plan(windows: TrajectoryWindows, batch_size: int, rng=None, bucket: int = 32):
    """Window indices in batches of similar size: shuffled (with ``rng``), sorted by
    pedestrian count inside buckets of ``bucket`` batches, the batches shuffled again.
    Without ``rng``: in order of size (evaluation)."""
    sizes = windows.pedestrians
    if rng is None:
        order = np.argsort(sizes, kind="stable")
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    order = rng.permutation(len(sizes))
    batches = []
    span = batch_size * bucket
    for start in range(0, len(order), span):
        chunk = order[start:start + span]
        chunk = chunk[np.argsort(sizes[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
