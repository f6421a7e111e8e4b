"""A user's own time series from a CSV file, checked before any model sees it.

Every problem is a :class:`~kerasseq.errors.DataError` that names the file and says what was
found and where: a missing column (with the columns the file has), a value that is not a number
(column, row and the text), an empty cell, a date that does not parse, timestamps out of order
or repeated, and gaps in the time index (how many steps are missing and the first few places).

Example:
>>> series = read_csv_series("sales.csv", target="units", exogenous=["price"],
...                          date_column="day", freq="D")
>>> series.columns, series.targets
(['price', 'units'], 1)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from kerasseq.data.forecasting import Series
from kerasseq.errors import DataError

# Seasonal-naive season (steps per day; weekly data: per year) for common steps.
_SEASONS = {"10min": 144, "15min": 96, "30min": 48, "h": 24, "D": 7, "7D": 52, "W": 52,
            "MS": 12, "M": 12}


def _split_names(names) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        return [n.strip() for n in names.split(",") if n.strip()]
    return list(names)


def read_csv_series(path, target, exogenous=None, date_column: str = "date", freq: str = "",
                    season: int = 0) -> Series:
    """Read ``path`` into a :class:`~kerasseq.data.forecasting.Series`.

    Args:
        path: the CSV file (a header row, one row per time step).
        target: the column(s) to forecast (a name, a comma-separated string or a list).
        exogenous: other columns the models see but do not forecast (same forms; none by default).
        date_column: the time-stamp column.
        freq: the expected step as a pandas offset alias (``h``, ``15min``, ``D`` ...); empty:
            infer it from the most common difference between consecutive rows.
        season: steps per season for the seasonal-naive baseline; 0 picks one from ``freq``
            (hourly 24, daily 7, weekly 52, ...), 1 when unknown.

    Returns:
        The series with the columns ordered ``exogenous..., target...`` (``targets`` of them
        forecast), split 70/10/20 % like the non-ETT benchmarks.

    Raises:
        DataError: the file is missing, or a check fails (see the module docstring).
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"--csv {path}: no such file")
    targets, exogenous = _split_names(target), _split_names(exogenous)
    if not targets:
        raise DataError(f"--csv {path}: name the column to forecast with --target")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"--csv {path}: not a readable CSV file ({exc})") from None
    wanted = [date_column, *exogenous, *targets]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(f"--csv {path}: no column {', '.join(map(repr, missing))}; the file has "
                        f"{', '.join(map(repr, frame.columns))}")
    overlap = set(exogenous) & set(targets)
    if overlap:
        raise DataError(f"--csv {path}: {', '.join(sorted(overlap))} named both as target and exogenous")
    if frame.empty:
        raise DataError(f"--csv {path}: the file has a header but no rows")

    columns = [*exogenous, *targets]
    values = np.empty((len(frame), len(columns)), np.float32)
    for j, name in enumerate(columns):
        text = frame[name].str.strip()
        numbers = pd.to_numeric(text, errors="coerce")
        bad = np.flatnonzero(numbers.isna().to_numpy())
        if len(bad):
            i = int(bad[0])
            what = "an empty cell" if text.iloc[i] == "" else f"{text.iloc[i]!r}, not a number"
            raise DataError(f"--csv {path}: column {name!r} row {i + 1} (line {i + 2}) holds "
                            f"{what}; {len(bad)} such cell(s) in that column. Fill or remove "
                            "them before forecasting")
        values[:, j] = numbers.to_numpy(np.float64)

    with warnings.catch_warnings():  # mixed formats: parsed one by one, checked below
        warnings.simplefilter("ignore", UserWarning)
        dates = pd.to_datetime(frame[date_column].str.strip(), errors="coerce")
    bad = np.flatnonzero(dates.isna().to_numpy())
    if len(bad):
        i = int(bad[0])
        raise DataError(f"--csv {path}: column {date_column!r} row {i + 1} (line {i + 2}): "
                        f"{frame[date_column].iloc[i]!r} is not a date")
    dates = dates.to_numpy()
    freq, step = _check_time_index(path, dates, freq)
    return Series(path.stem, values, columns, dates, len(targets), freq,
                  season or _SEASONS.get(freq, 1), "ratio")


def _check_time_index(path: Path, dates: np.ndarray, freq: str) -> tuple[str, np.timedelta64]:
    """Check the time stamps increase by one step everywhere; return the step."""
    import pandas as pd

    if len(dates) < 2:
        raise DataError(f"--csv {path}: {len(dates)} row(s) is too short to forecast")
    diffs = np.diff(dates)
    backwards = np.flatnonzero(diffs <= np.timedelta64(0))
    if len(backwards):
        i = int(backwards[0])
        kind = "repeated" if diffs[i] == np.timedelta64(0) else "out of order"
        raise DataError(f"--csv {path}: time stamps {kind} at rows {i + 1}-{i + 2} "
                        f"({pd.Timestamp(dates[i])} then {pd.Timestamp(dates[i + 1])}); sort the "
                        "file by time and keep one row per time step")
    if freq:
        try:
            offset = pd.tseries.frequencies.to_offset(freq)
            step = pd.Timedelta(offset).to_timedelta64()
        except (ValueError, TypeError):
            raise DataError(f"--freq {freq!r} is not a fixed pandas frequency (e.g. h, 15min, "
                            "D, 7D)") from None
    else:
        values, counts = np.unique(diffs, return_counts=True)
        step = values[np.argmax(counts)]
        freq = pd.tseries.frequencies.to_offset(pd.Timedelta(step)).freqstr
    gaps = np.flatnonzero(diffs != step)
    if len(gaps):
        missing = int(sum(max(int(diffs[i] // step) - 1, 0) for i in gaps))
        places = "; ".join(f"after row {i + 1} ({pd.Timestamp(dates[i])}) the next is "
                           f"{pd.Timestamp(dates[i + 1])}" for i in gaps[:3])
        raise DataError(f"--csv {path}: gaps in the time index: expected a row every "
                        f"{pd.Timedelta(step)} ({freq}); found {len(gaps)} irregular step(s), "
                        f"about {missing} missing row(s): {places}"
                        f"{' ...' if len(gaps) > 3 else ''}. Fill the gaps (e.g. interpolate) "
                        "or pass the right --freq")
    return freq, step
