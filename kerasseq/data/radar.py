"""Weather-radar precipitation sequences for nowcasting: the pySTEPS sample events.

Five events of 40 frames at 5-minute steps, distributed with pysteps (github
pySTEPS/pysteps-data): three MeteoSwiss composites (``mch/``, colour-coded GIF rain rates,
640×710 at 1 km) and two FMI composites (``fmi/``, gzipped PGM reflectivity, 1226×760 at
1 km). :func:`load_radar_event` verifies every frame file by checksum, reads it with pysteps'
importers, converts it to rain rate (mm/h, NaN outside radar coverage), block-averages it to a
coarser grid and caches the result. Whole events are held out for testing
(:data:`DEFAULT_TEST_EVENTS`, one per radar): :func:`radar_crops` cuts them into the fixed
test set; :func:`radar_training_batches` (and :func:`radar_dataset`, its tf.data wrapper) draws
random augmented crops from the others. Values stay in mm/h; the model does its own scaling.

Data: MeteoSwiss and FMI (FMI open data, CC BY 4.0), as distributed with pysteps (Pulkkinen
et al. 2019, GMD).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from kerasseq.data.files import manifest_checksums, verified_files
from kerasseq.errors import DataError

RADAR_EVENTS = ("mch/20150515", "mch/20160711", "mch/20170131", "fmi/20160928", "fmi/20170509")
DEFAULT_TEST_EVENTS = ("mch/20150515", "fmi/20160928")  # held out whole; the others train

SOURCE_COMMIT = "eaa59fb8f39205a3b1a0b44724ad8cd4a86d107e"
SOURCE_URL = f"https://raw.githubusercontent.com/pySTEPS/pysteps-data/{SOURCE_COMMIT}"
_CHECKSUMS = Path(__file__).with_name("radar_sha256.txt")  # same format as SHA256SUMS
_CACHE_VERSION = 1  # bump when the cached arrays change meaning
FRAME_STEP = timedelta(minutes=5)


@dataclass(frozen=True)
class RadarEvent:
    """One radar event on a regular grid, frames in time order."""

    name: str  # e.g. "mch/20150515"
    rain: np.ndarray  # float32 (time, height, width), mm/h; NaN outside radar coverage
    times: tuple[datetime, ...]  # frame times (UTC, from the file names), 5 minutes apart
    pixel_km: float  # grid spacing


@dataclass(frozen=True)
class RadarCrops:
    """A fixed set of crops: arrays with NaN replaced by 0, and where each tile came from."""

    inputs: np.ndarray  # float32 (N, input_frames, crop, crop), mm/h
    targets: np.ndarray  # float32 (N, output_frames, crop, crop), mm/h
    mask: np.ndarray  # bool, shape of targets: True inside radar coverage
    origin: np.ndarray  # int (N, 4): event index, first frame, top row, left column
    events: tuple[str, ...]
    counts: dict  # per event: windows, tiles (candidates), covered, kept


def import_pysteps():
    """Import pysteps without the configuration banner it prints (no setting silences it
    short of a pystepsrc with ``silent_import``), and return it."""
    if "pysteps" in sys.modules:
        return sys.modules["pysteps"]
    with contextlib.redirect_stdout(io.StringIO()):
        return importlib.import_module("pysteps")


def _check_event(event: str) -> str:
    if event not in RADAR_EVENTS:
        raise DataError(f"unknown radar event {event!r}; known: {', '.join(RADAR_EVENTS)}")
    radar, day = event.split("/")
    return f"radar/{radar}/pgm/{day}/" if radar == "fmi" else f"radar/{radar}/{day}/"


def _checksums(prefix: str) -> dict[str, str]:
    return manifest_checksums(_CHECKSUMS, prefix)


def _frame_time(name: str) -> datetime:
    if name.startswith("AQC"):  # MeteoSwiss: AQC<yy><day of year><HHMM>...
        return datetime.strptime(name[3:12], "%y%j%H%M")
    return datetime.strptime(name[:12], "%Y%m%d%H%M")  # FMI: <YYYYmmddHHMM>_fmi...


def radar_files(event: str, data_dir=None, download: bool = False) -> list[Path]:
    """The verified frame files of one event, in time order.

    Args:
        event: one of :data:`RADAR_EVENTS`.
        data_dir: the data directory (default ``$KERASSEQ_DATA_DIR``); files under
            ``radar/mch/<yyyymmdd>/`` and ``radar/fmi/pgm/<yyyymmdd>/``.
        download: fetch missing files from pySTEPS/pysteps-data (at the pinned commit).

    Raises:
        DataError: unknown event, or a file missing or failing its SHA-256 checksum.
    """
    paths = verified_files(_CHECKSUMS, _check_event(event), SOURCE_URL,
                           f"the pySTEPS/pysteps-data repository at commit {SOURCE_COMMIT}",
                           data_dir, download)
    return sorted(paths, key=lambda p: _frame_time(p.name))


def _read_rain_rate(path: Path, radar: str) -> np.ndarray:
    import_pysteps()
    from pysteps.io import importers
    from pysteps.utils import conversion

    if radar == "mch":  # 5-minute accumulations in mm, colour-coded
        with warnings.catch_warnings():  # pysteps leaves the GIF for the garbage collector
            warnings.simplefilter("ignore", ResourceWarning)
            values, _, meta = importers.import_mch_gif(str(path), product="AQC", unit="mm",
                                                       accutime=5.0)
    else:  # reflectivity in dBZ, converted with the Z-R relation in the metadata
        values, _, meta = importers.import_fmi_pgm(str(path), gzipped=True)
    rain, _ = conversion.to_rainrate(values, meta)
    return rain


def block_average(rain: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor × factor`` blocks of ``(time, height, width)`` frames: a block with
    any NaN is NaN (partly outside coverage); rows and columns left over are cropped."""
    t, h, w = rain.shape
    h, w = h // factor, w // factor
    blocks = rain[:, :h * factor, :w * factor].reshape(t, h, factor, w, factor)
    return blocks.mean(axis=(2, 4), dtype=np.float64).astype(np.float32)


def _cache_file(cache_dir, event: str, downsample: int) -> Path:
    if cache_dir is None:
        cache_dir = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        cache_dir = cache_dir / "kerasseq" / "radar"
    return Path(cache_dir) / f"{event.replace('/', '-')}-x{downsample}-v{_CACHE_VERSION}.npz"


def load_radar_event(event: str, data_dir=None, downsample: int = 2, download: bool = False,
                     cache_dir=None) -> RadarEvent:
    """Read one event as rain rates (mm/h) on a ``downsample`` km grid.

    Every frame file is verified by checksum on each call; the converted frames are cached as
    ``.npz`` (keyed by event, ``downsample`` and the files' checksums), so only the first call
    decodes the 40 images.

    Args:
        event: one of :data:`RADAR_EVENTS`, e.g. ``"fmi/20170509"``.
        data_dir: the data directory (default ``$KERASSEQ_DATA_DIR``).
        downsample: block-averaging factor (1 keeps the native 1 km grid).
        download: fetch missing frame files from pySTEPS/pysteps-data.
        cache_dir: where to cache converted events (default ``$XDG_CACHE_HOME/kerasseq/radar``,
            i.e. ``~/.cache/kerasseq/radar``); an unwritable cache is skipped.

    Returns:
        A :class:`RadarEvent`.
    """
    if not isinstance(downsample, int) or downsample < 1:
        raise ValueError("Expected downsample to be a positive integer. "
                         f"Received: downsample={downsample!r}")
    paths = radar_files(event, data_dir, download)
    times = tuple(_frame_time(p.name) for p in paths)
    if any(b - a != FRAME_STEP for a, b in zip(times, times[1:])):
        raise DataError(f"{event}: frames are not 5 minutes apart: "
                        f"{[t.isoformat() for t in times]}")
    key = hashlib.sha256("".join(_checksums(_check_event(event)).values()).encode()).hexdigest()
    cache = _cache_file(cache_dir, event, downsample)
    rain = None
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as npz:
                if str(npz["key"]) == key:
                    rain = npz["rain"]
        except (OSError, ValueError, KeyError):  # a truncated or foreign file: rebuild it
            rain = None
    if rain is None:
        radar = event.split("/")[0]
        frames = np.stack([_read_rain_rate(p, radar) for p in paths])  # (time, H, W) at 1 km
        rain = block_average(frames, downsample) if downsample > 1 else frames.astype(np.float32)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=cache.parent, suffix=".npz", delete=False) as f:
                np.savez_compressed(f, rain=rain, key=np.array(key))
            os.replace(f.name, cache)
        except OSError:
            pass
    return RadarEvent(event, rain, times, float(downsample))


def radar_windows(rain: np.ndarray, input_frames: int, output_frames: int, stride: int = 1):
    """All windows of consecutive frames of one event.

    Args:
        rain: ``(time, height, width)`` frames.
        input_frames: observed frames J per window.
        output_frames: frames K to predict, following the observed ones.
        stride: frames between the starts of consecutive windows.

    Returns:
        ``(inputs (N, J, height, width), targets (N, K, height, width))``, copies.
    """
    length = input_frames + output_frames
    starts = range(0, len(rain) - length + 1, stride)
    if input_frames < 1 or output_frames < 1 or stride < 1 or not starts:
        raise ValueError(f"Expected positive frame counts and stride with input_frames + "
                         f"output_frames <= {len(rain)}. Received: input_frames={input_frames}, "
                         f"output_frames={output_frames}, stride={stride}")
    windows = np.stack([rain[s:s + length] for s in starts])
    return windows[:, :input_frames], windows[:, input_frames:]


def _accept(window, input_frames, min_coverage, min_wet_fraction, wet_threshold):
    """``(covered, wet)`` of one ``(J + K, crop, crop)`` window of a crop: covered when at
    least ``min_coverage`` of it lies inside radar coverage in every frame; wet when at least
    ``min_wet_fraction`` of the last observed frame is ``>= wet_threshold`` mm/h."""
    covered = np.isfinite(window).mean(axis=(1, 2)).min() >= min_coverage
    last = np.nan_to_num(window[input_frames - 1], nan=0.0)
    return covered, covered and np.mean(last >= wet_threshold) >= min_wet_fraction


def _grid(size: int, crop: int, step: int) -> list[int]:
    """Offsets of the tiles that fit, ``step`` apart, the grid centred."""
    if crop > size or step < 1:
        raise ValueError(f"Expected crop <= the frame size {size} and tile_stride >= 1. "
                         f"Received: crop={crop}, tile_stride={step}")
    count = (size - crop) // step + 1
    return [(size - crop - (count - 1) * step) // 2 + i * step for i in range(count)]


def radar_crops(events, input_frames: int, output_frames: int, crop: int = 96, stride: int = 1,
                tile_stride: int | None = None, min_coverage: float = 0.9,
                min_wet_fraction: float = 0.05, wet_threshold: float = 0.5) -> RadarCrops:
    """The fixed test set: every window of every event, cut into a centred grid of tiles.

    A tile is kept when it is at least ``min_coverage`` inside radar coverage in every frame
    of its window and at least ``min_wet_fraction`` of its last observed frame has rain of
    ``wet_threshold`` mm/h or more. Deterministic: no random numbers.

    Args:
        events: :class:`RadarEvent` objects (the held-out ones: :data:`DEFAULT_TEST_EVENTS`).
        input_frames: observed frames J.
        output_frames: frames K to predict.
        crop: tile size in pixels.
        stride: frames between the starts of consecutive windows.
        tile_stride: pixels between neighbouring tiles (default ``crop``: no overlap).
        min_coverage, min_wet_fraction, wet_threshold: the acceptance rule above.

    Returns:
        A :class:`RadarCrops` (NaN replaced by 0; ``mask`` says where targets are observed).
    """
    length = input_frames + output_frames
    tiles, origin, counts = [], [], {}
    for index, event in enumerate(events):
        t, h, w = event.rain.shape
        starts = range(0, t - length + 1, stride)
        rows, cols = _grid(h, crop, tile_stride or crop), _grid(w, crop, tile_stride or crop)
        covered = 0
        for start in starts:
            window = event.rain[start:start + length]
            for r in rows:
                for c in cols:
                    tile = window[:, r:r + crop, c:c + crop]
                    is_covered, keep = _accept(tile, input_frames, min_coverage,
                                               min_wet_fraction, wet_threshold)
                    covered += is_covered
                    if keep:
                        tiles.append(tile)
                        origin.append((index, start, r, c))
        counts[event.name] = {"windows": len(starts), "tiles": len(starts) * len(rows) * len(cols),
                              "covered": int(covered),
                              "kept": sum(o[0] == index for o in origin)}
    tiles = np.stack(tiles) if tiles else np.zeros((0, length, crop, crop), np.float32)
    mask = np.isfinite(tiles[:, input_frames:])
    tiles = np.nan_to_num(tiles, nan=0.0)
    return RadarCrops(tiles[:, :input_frames], tiles[:, input_frames:], mask,
                      np.array(origin, dtype=np.int64).reshape(-1, 4),
                      tuple(e.name for e in events), counts)


def radar_training_batches(events, batch_size: int, input_frames: int, output_frames: int,
                           crop: int = 96, seed: int = 0, augment: bool = True,
                           min_coverage: float = 0.9, min_wet_fraction: float = 0.05,
                           wet_threshold: float = 0.5, max_tries: int = 1000):
    """Random training crops, batched, forever (a seeded generator).

    Each example: a random event, window start and crop position, redrawn until the crop
    passes the acceptance rule of :func:`radar_crops` (at most ``max_tries`` draws), then one
    of the 8 flips/90° rotations (the same for all its frames) and NaN replaced by 0.

    Args:
        events: training :class:`RadarEvent` objects.
        batch_size: examples per batch.
        input_frames, output_frames: J observed and K predicted frames.
        crop: crop size in pixels.
        seed: seed of the ``np.random.Generator``: equal seeds give equal batches.
        augment: apply the random flips/rotations.
        min_coverage, min_wet_fraction, wet_threshold: as in :func:`radar_crops`.
        max_tries: draws per example before giving up with a ``DataError``.

    Yields:
        ``(inputs float32 (batch, J, crop, crop), targets float32 (batch, K, crop, crop))``, mm/h.
    """
    length = input_frames + output_frames
    for event in events:
        if event.rain.shape[0] < length or min(event.rain.shape[1:]) < crop:
            raise ValueError(f"Expected events of at least {length} frames of {crop}×{crop}. "
                             f"Received: {event.name} of shape {event.rain.shape}")
    rng = np.random.default_rng(seed)
    while True:
        windows = np.empty((batch_size, length, crop, crop), np.float32)
        for b in range(batch_size):
            for _ in range(max_tries):
                rain = events[rng.integers(len(events))].rain
                s = rng.integers(rain.shape[0] - length + 1)
                r = rng.integers(rain.shape[1] - crop + 1)
                c = rng.integers(rain.shape[2] - crop + 1)
                window = rain[s:s + length, r:r + crop, c:c + crop]
                if _accept(window, input_frames, min_coverage, min_wet_fraction, wet_threshold)[1]:
                    break
            else:
                raise DataError(f"no {crop}×{crop} crop of {', '.join(e.name for e in events)} "
                                f"met the acceptance rule in {max_tries} random draws; lower "
                                "min_coverage, min_wet_fraction or the crop size")
            if augment:
                window = np.rot90(window, rng.integers(4), axes=(1, 2))
                if rng.integers(2):
                    window = window[:, :, ::-1]
            windows[b] = np.nan_to_num(window, nan=0.0)
        yield windows[:, :input_frames], windows[:, input_frames:]


def radar_dataset(events, batch_size: int, input_frames: int, output_frames: int,
                  crop: int = 96, seed: int = 0, **kwargs):
    """:func:`radar_training_batches` as an endless ``tf.data.Dataset`` of
    ``(inputs (batch, J, crop, crop), targets (batch, K, crop, crop))`` float32 batches; each
    new iterator restarts the same seeded stream (fit it with ``steps_per_epoch``). Keyword
    arguments go to :func:`radar_training_batches`."""
    import tensorflow as tf

    signature = (tf.TensorSpec((batch_size, input_frames, crop, crop), tf.float32),
                 tf.TensorSpec((batch_size, output_frames, crop, crop), tf.float32))
    ds = tf.data.Dataset.from_generator(
        lambda: radar_training_batches(events, batch_size, input_frames, output_frames, crop,
                                       seed, **kwargs),
        output_signature=signature)
    return ds.prefetch(2)
