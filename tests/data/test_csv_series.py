"""A user's CSV: the columns ordered exogenous then target, and a clear error for each thing
that can be wrong with the file."""

import numpy as np
import pytest

from kerasseq.data.csv_series import read_csv_series
from kerasseq.errors import DataError

HOURS = [f"2024-01-01 {h:02d}:00" for h in range(8)]


def _write(tmp_path, rows, header="time,load,temp,price"):
    path = tmp_path / "series.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _rows(dates=HOURS):
    return [f"{d},{i},{10 + i},{0.5 * i}" for i, d in enumerate(dates)]


def test_reads_columns_in_order_and_infers_the_step(tmp_path):
    path = _write(tmp_path, _rows())
    series = read_csv_series(path, "load", "temp,price", date_column="time")
    assert series.columns == ["temp", "price", "load"] and series.targets == 1
    assert series.freq == "h" and series.season == 24
    np.testing.assert_array_equal(series.values[:, -1], np.arange(8))
    assert read_csv_series(path, "load,temp", date_column="time").targets == 2


@pytest.mark.parametrize("rows, kwargs, message", [
    (_rows(), dict(target="sales"), "no column 'sales'; the file has 'time', 'load'"),
    (_rows(), dict(target="load", exogenous="load"), "both as target and exogenous"),
    (_rows()[:3] + ["2024-01-01 03:00,12x,13,1.5"] + _rows()[4:], dict(target="load"),
     "column 'load' row 4 \\(line 5\\) holds '12x', not a number"),
    (_rows()[:2] + ["2024-01-01 02:00,,12,1.0"] + _rows()[3:], dict(target="load"),
     "column 'load' row 3 \\(line 4\\) holds an empty cell"),
    (["yesterday,1,2,3"] + _rows()[1:], dict(target="load"), "'yesterday' is not a date"),
    (_rows(HOURS[:3] + HOURS[5:]), dict(target="load"),
     "gaps in the time index: expected a row every 0 days 01:00:00 \\(h\\); found 1 irregular "
     "step\\(s\\), about 2 missing row\\(s\\): after row 3 \\(2024-01-01 02:00:00\\) the next is "
     "2024-01-01 05:00:00"),
    (_rows(HOURS[:4] + HOURS[3:7]), dict(target="load"), "time stamps repeated at rows 4-5"),
    (_rows(HOURS[:3] + [HOURS[4], HOURS[3]] + HOURS[5:]), dict(target="load"), "out of order"),
    (_rows(), dict(target="load", freq="weekly"), "--freq 'weekly' is not a fixed pandas frequency"),
    (_rows(), dict(target="load", freq="30min"), "expected a row every 0 days 00:30:00"),
])
def test_each_problem_is_named(tmp_path, rows, kwargs, message):
    path = _write(tmp_path, rows)
    with pytest.raises(DataError, match=message):
        read_csv_series(path, date_column="time", **kwargs)


def test_missing_file_and_missing_target(tmp_path):
    with pytest.raises(DataError, match="nope.csv: no such file"):
        read_csv_series(tmp_path / "nope.csv", "load")
    with pytest.raises(DataError, match="--target"):
        read_csv_series(_write(tmp_path, _rows()), "", date_column="time")
