"""Long-horizon forecasting data: the ETT / weather / exchange-rate / ILI benchmarks with the
protocol of Informer, Autoformer, DLinear and PatchTST, and a user's own CSV.

A series is a ``(time, channels)`` float array with its column names; the forecast channels
are the *last* ``targets`` columns (the benchmarks' ``OT`` is last; a user's CSV is ordered
``exogenous..., target...``). Splits follow the published loaders exactly (Informer's
``Dataset_ETT_hour``/``Dataset_ETT_minute``, Autoformer's ``Dataset_Custom``): ETTh 12/4/4
months, ETTm the same ×4, the others 70/10/20 %; each validation/test slice starts one input
length early so its first window is complete. Values are z-normalised with the training
slice's statistics. A window is ``input_length`` rows in and the next ``horizon`` rows out;
every window of a slice is used (none dropped).

Example:
>>> series = load_benchmark("ETTh1")                       # verified against its SHA-256
>>> splits = benchmark_splits(series, input_length=336)   # train / val / test slices
>>> scaler = Standardizer.fit(splits.train)
>>> train = window_dataset(scaler(splits.train), 336, 96, batch_size=32, shuffle=True)
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from kerasseq.data.files import FILES, RemoteFile, dataset_file
from kerasseq.errors import DataError, UserError

# The official ETT repository (the ETTm files there are the fixed 2021 ones, identical in
# content to the shared gzip copies). Weather, exchange rate and ILI are distributed through
# Autoformer's Google Drive folder, which has no stable file URLs: no automatic download.
_ETT = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small"


@dataclass(frozen=True)
class Benchmark:
    """One benchmark series: its file, how it is split, its step and its season."""

    path: str
    split: str  # "ett_hour", "ett_minute" or "ratio" (70/10/20 %)
    freq: str  # pandas offset alias of one step
    season: int  # steps per season for the seasonal-naive baseline (one day; ILI: one year)
    input_length: int = 336  # the protocol's default input length
    horizons: tuple = (96, 192, 336, 720)


BENCHMARKS = {
    "ETTh1": Benchmark("ett/ETTh1.csv", "ett_hour", "h", 24),
    "ETTh2": Benchmark("ett/ETTh2.csv", "ett_hour", "h", 24),
    "ETTm1": Benchmark("ett/ETTm1.csv.gz", "ett_minute", "15min", 96),
    "ETTm2": Benchmark("ett/ETTm2.csv.gz", "ett_minute", "15min", 96),
    "weather": Benchmark("ett/weather.csv.gz", "ratio", "10min", 144),
    "exchange": Benchmark("ett/exchange_rate.csv", "ratio", "D", 7),
    "ili": Benchmark("ett/national_illness.csv", "ratio", "7D", 52, 36, (24, 36, 48, 60)),
}

# Checksums of the shared copies (../shared/data/SHA256SUMS) and their sources; the gzip
# copies are checked by content when downloaded uncompressed.
FILES.update({f.path: f for f in [
    RemoteFile("ett/ETTh1.csv", "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
               f"{_ETT}/ETTh1.csv"),
    RemoteFile("ett/ETTh2.csv", "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b",
               f"{_ETT}/ETTh2.csv"),
    RemoteFile("ett/ETTm1.csv.gz", "73c18304514c26a5cddba02e6538513a0e23b2fbb59752535adbf541c9edc672",
               f"{_ETT}/ETTm1.csv",
               "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e"),
    RemoteFile("ett/ETTm2.csv.gz", "5122051efae7be24b40bedc80ee445bd18298552b940084f0dbe329c5157110a",
               f"{_ETT}/ETTm2.csv",
               "db973ca252c6410a30d0469b13d696cf919648d0f3fd588c60f03fdbdbadd1fd"),
    RemoteFile("ett/weather.csv.gz", "862e9b447a3933f14b6f2d3d686a35d3adb5a486f97acfa46869be0e4bb682db", ""),
    RemoteFile("ett/exchange_rate.csv", "d55e7aa2641009814a18ba3279431b13f6d413b0eab195b9ff21988d8cf94e97", ""),
    RemoteFile("ett/national_illness.csv", "8594cecb98c6f2f9dc014eca11c4d5d1e38ad5ce6ed0592d4abe65b146fce395", ""),
]})


@dataclass
class Series:
    """A multichannel series: ``values (time, channels)``, the forecast channels last."""

    name: str
    values: np.ndarray
    columns: list
    dates: np.ndarray
    targets: int
    freq: str = ""
    season: int = 0
    split: str = "ratio"

    def select(self, features: str) -> "Series":
        """The protocol's feature settings: ``M`` (all channels in, all forecast), ``S`` (the
        last channel alone), ``MS`` (all in, the last one forecast)."""
        if features == "M":
            return Series(self.name, self.values, self.columns, self.dates, len(self.columns),
                          self.freq, self.season, self.split)
        if features == "S":
            return Series(self.name, self.values[:, -self.targets:], self.columns[-self.targets:],
                          self.dates, self.targets, self.freq, self.season, self.split)
        if features == "MS":
            return Series(self.name, self.values, self.columns, self.dates, 1, self.freq,
                          self.season, self.split)
        raise UserError(f"features must be M, S or MS; got {features!r}")


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")  # weather's header has Latin-1 units


def load_benchmark(name: str, data_dir=None, download: bool = False) -> Series:
    """Read benchmark ``name`` (a key of :data:`BENCHMARKS`), every channel, ``OT`` last.

    Rows are kept exactly as published (weather's one duplicated timestamp included), as the
    reference loaders keep them.
    """
    import pandas as pd

    if name not in BENCHMARKS:
        raise UserError(f"unknown forecasting dataset {name!r}; known: {', '.join(BENCHMARKS)}")
    spec = BENCHMARKS[name]
    path = dataset_file(spec.path, data_dir, download)
    frame = pd.read_csv(io.StringIO(_read_text(path)))
    columns = [c for c in frame.columns if c != "date"]
    if columns[-1] != "OT":
        raise DataError(f"{path}: expected the target column OT last; found {columns}")
    return Series(name, frame[columns].to_numpy(np.float32), columns,
                  pd.to_datetime(frame["date"]).to_numpy(), 1, spec.freq, spec.season, spec.split)


@dataclass
class Splits:
    """The training, validation and test slices of a series (``(time, channels)`` arrays) and
    where each starts in the series."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    starts: tuple = field(default=(0, 0, 0))


def split_borders(length: int, kind: str, input_length: int) -> list[tuple[int, int]]:
    """``[(start, end)]`` of the train/val/test slices, as the reference loaders cut them."""
    if kind in ("ett_hour", "ett_minute"):
        month = 30 * 24 * (4 if kind == "ett_minute" else 1)
        ends = [12 * month, 16 * month, 20 * month]
        if length < ends[-1]:
            raise DataError(f"an ETT series needs {ends[-1]} rows; got {length}")
    else:
        train, test = int(length * 0.7), int(length * 0.2)
        ends = [train, length - test, length]
    starts = [0, ends[0] - input_length, ends[1] - input_length]
    return list(zip(starts, ends))


def split_series(series: Series, input_length: int, horizon: int) -> Splits:
    """Cut ``series`` into its protocol's slices; each must hold at least one window."""
    borders = split_borders(len(series.values), series.split, input_length)
    for (start, end), part in zip(borders, ("training", "validation", "test")):
        if start < 0 or end - start < input_length + horizon:
            raise UserError(
                f"{series.name}: the {part} slice has {max(end - max(start, 0), 0)} rows, fewer "
                f"than one window of --input_length {input_length} + --horizon {horizon} = "
                f"{input_length + horizon}; the series ({len(series.values)} rows) is too short "
                "for these settings")
    slices = [series.values[s:e] for s, e in borders]
    return Splits(*slices, starts=tuple(s for s, _ in borders))


@dataclass
class Standardizer:
    """z-normalisation with the training slice's per-channel mean and standard deviation
    (scikit-learn's ``StandardScaler``, as the reference loaders use it)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> "Standardizer":
        std = values.std(axis=0)
        return cls(values.mean(axis=0).astype(np.float32),
                   np.where(std > 0, std, 1.0).astype(np.float32))

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.mean) / self.std).astype(np.float32)

    def inverse(self, values: np.ndarray, channels=slice(None)) -> np.ndarray:
        return values * self.std[channels] + self.mean[channels]


def window_count(rows: int, input_length: int, horizon: int) -> int:
    return max(rows - input_length - horizon + 1, 0)


def windows(values: np.ndarray, starts, input_length: int, horizon: int, targets: int):
    """NumPy ``(inputs (n, L, C), future (n, H, C), targets (n, H, T))`` of the windows that
    start at ``starts``."""
    starts = np.asarray(starts)
    x = values[starts[:, None] + np.arange(input_length)]
    future = values[starts[:, None] + input_length + np.arange(horizon)]
    return x, future, future[..., values.shape[1] - targets:]


def window_dataset(values: np.ndarray, input_length: int, horizon: int, targets: int, *,
                   batch_size: int, shuffle: bool = False, seed: int = 0,
                   teacher_forcing: bool = False, first_epoch: int = 0):
    """Every window of ``values`` as batches of ``(inputs (B, L, C), targets (B, H, T))`` —
    or ``((inputs, future (B, H, C)), targets)`` for teacher-forced training — the last batch
    smaller, nothing dropped. A ``tf.data`` pipeline (windows gathered from one in-memory
    array), or a ``keras.utils.PyDataset`` where TensorFlow is absent; a shuffled dataset
    draws a new order every epoch."""
    count = window_count(len(values), input_length, horizon)
    if count == 0:
        raise UserError(f"{len(values)} rows hold no window of {input_length} + {horizon} rows")
    try:
        import tensorflow as tf
    except ModuleNotFoundError:
        return _WindowBatches(values, input_length, horizon, targets, batch_size, shuffle, seed,
                              teacher_forcing, first_epoch)
    data = tf.constant(values)
    steps_in = tf.range(input_length, dtype=tf.int64)
    steps_out = tf.range(horizon, dtype=tf.int64)
    channels = values.shape[1]

    def gather(starts):
        x = tf.gather(data, starts[:, None] + steps_in)
        future = tf.gather(data, starts[:, None] + input_length + steps_out)
        y = future[..., channels - targets:]
        return ((x, future), y) if teacher_forcing else (x, y)

    ds = tf.data.Dataset.range(count)
    if shuffle:
        ds = ds.shuffle(count, seed=seed + first_epoch, reshuffle_each_iteration=True)
    return ds.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


class _WindowBatches(keras.utils.PyDataset):
    """The windows of :func:`window_dataset` as NumPy batches, for Keras without TensorFlow."""

    def __init__(self, values, input_length, horizon, targets, batch_size, shuffle, seed,
                 teacher_forcing, first_epoch):
        super().__init__()
        self.values, self.lengths = values, (input_length, horizon, targets)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.teacher_forcing, self.epoch = teacher_forcing, first_epoch
        self.order = self._order()

    def _order(self):
        order = np.arange(window_count(len(self.values), *self.lengths[:2]))
        if self.shuffle:
            np.random.default_rng([self.seed, self.epoch]).shuffle(order)
        return order

    def __len__(self):
        return -(-len(self.order) // self.batch_size)

    def __getitem__(self, index):
        starts = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        x, future, y = windows(self.values, starts, *self.lengths)
        return ((x, future), y) if self.teacher_forcing else (x, y)

    def on_epoch_end(self):
        self.epoch += 1
        self.order = self._order()
