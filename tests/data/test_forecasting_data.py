"""The forecasting benchmarks: files verified, the published splits, train-only normalisation,
and every window of a slice batched (none dropped), on TensorFlow and on JAX alone."""

import numpy as np
import pytest

from kerasseq.data.forecasting import (BENCHMARKS, Standardizer, load_benchmark, split_borders,
                                       split_series, window_count, window_dataset, windows)
from kerasseq.errors import DataError
from kerasseq.tasks.configs import FORECAST_DATASETS


def test_config_names_the_benchmarks():
    assert set(FORECAST_DATASETS) == set(BENCHMARKS)


def test_ett_splits_are_informers():
    series = load_benchmark("ETTh1")
    assert series.values.shape == (17420, 7) and series.columns[-1] == "OT"
    splits = split_series(series, 336, 96)
    # 12 / 4 / 4 months of 30 days; val and test start one input length early.
    assert splits.starts == (0, 8640 - 336, 11520 - 336)
    assert [len(p) for p in (splits.train, splits.val, splits.test)] == [8640, 2880 + 336, 2880 + 336]
    assert window_count(len(splits.test), 336, 96) == 2785  # the published test-set size
    assert split_borders(69680, "ett_minute", 96)[2] == (4 * 11520 - 96, 4 * 14400)
    # Autoformer's 70 / 10 / 20 % (int() of 70 % and 20 %, validation the rest).
    assert split_borders(52696, "ratio", 336) == [(0, 36887), (36887 - 336, 52696 - 10539),
                                                   (52696 - 10539 - 336, 52696)]


def test_features_select_and_normalise_with_training_statistics():
    series = load_benchmark("ETTh2")
    univariate = series.select("S")
    assert univariate.columns == ["OT"] and univariate.targets == 1
    assert series.select("MS").targets == 1 and series.select("M").targets == 7
    splits = split_series(series, 96, 96)
    scaler = Standardizer.fit(splits.train)
    train = scaler(splits.train)
    np.testing.assert_allclose(train.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(train.std(0), 1, atol=1e-4)
    np.testing.assert_allclose(scaler.inverse(scaler(splits.test)), splits.test, rtol=1e-5, atol=1e-3)
    assert abs(scaler(splits.test).mean()) > 1e-3  # test statistics are not used


def test_a_series_too_short_for_one_window_is_a_clear_error():
    with pytest.raises(Exception, match="fewer than one window of --input_length 400 \\+ --horizon 500"):
        split_series(load_benchmark("ili"), 400, 500)


def test_a_corrupt_copy_is_refused(tmp_path):
    (tmp_path / "ett").mkdir()
    (tmp_path / "ett" / "ETTh1.csv").write_text("date,OT\n2016-07-01 00:00:00,1.0\n")
    with pytest.raises(DataError, match="ETTh1.csv"):
        load_benchmark("ETTh1", data_dir=tmp_path)


@pytest.mark.parametrize("teacher_forcing", [False, True])
def test_window_dataset_keeps_every_window(teacher_forcing):
    values = np.arange(60 * 3, dtype=np.float32).reshape(60, 3)
    L, H, T = 10, 5, 2
    count = window_count(60, L, H)
    ds = window_dataset(values, L, H, T, batch_size=16, teacher_forcing=teacher_forcing)
    batches = list(ds)
    xs = np.concatenate([np.asarray((b[0][0] if teacher_forcing else b[0])) for b in batches])
    ys = np.concatenate([np.asarray(b[1]) for b in batches])
    assert len(xs) == count == 46 and len(batches) == 3  # 16 + 16 + 14: the last kept
    x, future, y = windows(values, np.arange(count), L, H, T)
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_array_equal(ys, y)
    assert y.shape == (count, H, T) and np.array_equal(y, future[..., 1:])
    if teacher_forcing:
        np.testing.assert_array_equal(np.asarray(batches[0][0][1]), future[:16])


def test_shuffled_windows_cover_the_slice_in_a_new_order_each_epoch():
    values = np.arange(40, dtype=np.float32)[:, None]
    ds = window_dataset(values, 4, 2, 1, batch_size=8, shuffle=True, seed=3)
    firsts = []
    for _ in range(2):
        if hasattr(ds, "on_epoch_end"):  # the PyDataset of JAX alone
            starts = np.concatenate([np.asarray(ds[i][0])[:, 0, 0] for i in range(len(ds))])
            ds.on_epoch_end()
        else:
            starts = np.concatenate([np.asarray(x)[:, 0, 0] for x, _ in ds])
        assert sorted(starts.astype(int)) == list(range(window_count(40, 4, 2)))
        firsts.append(starts)
    assert not np.array_equal(*firsts)
