"""Radar events: the real pySTEPS sample files, their checksums, cache, test tiles and sampler."""

import shutil
import subprocess
import sys
from datetime import datetime, timedelta

import numpy as np
import pytest

from kerasseq.data import files, radar
from kerasseq.data.radar import (DEFAULT_TEST_EVENTS, RADAR_EVENTS, RadarEvent, block_average,
                                 load_radar_event, radar_crops, radar_training_batches,
                                 radar_windows)
from kerasseq.errors import DataError

SHAPES = {"mch/20150515": (40, 320, 355), "fmi/20160928": (40, 613, 380)}  # 2 km grid
COMMIT = "eaa59fb8f39205a3b1a0b44724ad8cd4a86d107e"  # of github pySTEPS/pysteps-data
STARTS = {"mch/20150515": datetime(2015, 5, 15, 15, 45),
          "fmi/20160928": datetime(2016, 9, 28, 14, 45)}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("radar_cache")


@pytest.fixture(scope="module")
def test_events(data_dir, cache_dir):
    """The two held-out events (one per radar, both file formats) on the default 2 km grid."""
    return [load_radar_event(name, data_dir, cache_dir=cache_dir) for name in DEFAULT_TEST_EVENTS]


def test_import_is_cheap():
    code = ("import sys, kerasseq.data.radar, kerasseq.extrapolation; "
            "print(sorted({'pysteps', 'tensorflow', 'keras'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("index", [0, 1])
def test_events_are_rain_rates_on_a_2_km_grid(test_events, index):
    event = test_events[index]
    assert event.name == DEFAULT_TEST_EVENTS[index] and event.pixel_km == 2.0
    assert event.rain.shape == SHAPES[event.name] and event.rain.dtype == np.float32
    assert event.times[0] == STARTS[event.name] and len(event.times) == 40
    assert all(b - a == timedelta(minutes=5) for a, b in zip(event.times, event.times[1:]))
    outside = np.isnan(event.rain).mean()
    assert 0.2 < outside < 0.35  # outside radar coverage
    assert np.nanmin(event.rain) == 0.0
    assert 50 < np.nanmax(event.rain) < 150  # mm/h: convective cells
    assert 0.05 < np.nanmean(event.rain >= 0.5) < 0.2  # wet pixels


def test_block_average_propagates_nan_and_crops_the_remainder():
    rain = np.arange(2 * 5 * 7, dtype=np.float32).reshape(2, 5, 7)
    rain[1, 0, 0] = np.nan
    out = block_average(rain, 2)
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    assert out[0, 1, 2] == rain[0, 2:4, 4:6].mean()
    assert np.isnan(out[1, 0, 0]) and np.isfinite(out[1, 0, 1])


def test_second_load_comes_from_the_cache(test_events, data_dir, cache_dir, monkeypatch):
    def no_decoding(*args):
        raise AssertionError("decoded the frames again instead of reading the cache")

    monkeypatch.setattr(radar, "_read_rain_rate", no_decoding)
    again = load_radar_event(DEFAULT_TEST_EVENTS[0], data_dir, cache_dir=cache_dir)
    np.testing.assert_array_equal(again.rain, test_events[0].rain)
    assert again.times == test_events[0].times
    assert len(list(cache_dir.glob("mch-20150515-x2-*.npz"))) == 1


def test_windows_follow_the_frames(test_events):
    rain = test_events[0].rain
    inputs, targets = radar_windows(rain, 6, 12)
    assert inputs.shape == (23, 6, 320, 355) and targets.shape == (23, 12, 320, 355)
    np.testing.assert_array_equal(inputs[4], rain[4:10])
    np.testing.assert_array_equal(targets[4], rain[10:22])
    assert radar_windows(rain, 6, 12, stride=5)[0].shape[0] == 5
    with pytest.raises(ValueError, match="input_frames \\+ output_frames <= 40"):
        radar_windows(rain, 30, 12)


def test_fixed_test_set_is_deterministic_and_keeps_exactly_the_accepted_tiles(test_events):
    crops = radar_crops(test_events, 6, 12)
    again = radar_crops(test_events, 6, 12)
    np.testing.assert_array_equal(crops.inputs, again.inputs)
    np.testing.assert_array_equal(crops.origin, again.origin)
    assert crops.inputs.shape == (250, 6, 96, 96) and crops.targets.shape == (250, 12, 96, 96)
    assert crops.counts == {
        "mch/20150515": {"windows": 23, "tiles": 207, "covered": 69, "kept": 42},
        "fmi/20160928": {"windows": 23, "tiles": 414, "covered": 322, "kept": 208}}
    assert np.isfinite(crops.inputs).all() and crops.mask.dtype == bool
    # An independent pass over the centred 96-pixel grid finds the same tiles.
    expected = []
    for e, event in enumerate(test_events):
        _, h, w = event.rain.shape
        rows = [(h - h // 96 * 96) // 2 + 96 * i for i in range(h // 96)]
        cols = [(w - w // 96 * 96) // 2 + 96 * i for i in range(w // 96)]
        for start in range(40 - 18 + 1):
            for r in rows:
                for c in cols:
                    tile = event.rain[start:start + 18, r:r + 96, c:c + 96]
                    covered = all(np.isfinite(frame).mean() >= 0.9 for frame in tile)
                    if covered and (np.nan_to_num(tile[5]) >= 0.5).mean() >= 0.05:
                        expected.append((e, start, r, c))
    assert crops.origin.tolist() == [list(o) for o in expected]
    e, start, r, c = crops.origin[100]
    source = test_events[e].rain[start:start + 18, r:r + 96, c:c + 96]
    np.testing.assert_array_equal(crops.inputs[100], np.nan_to_num(source[:6]))
    np.testing.assert_array_equal(crops.targets[100], np.nan_to_num(source[6:]))
    np.testing.assert_array_equal(crops.mask[100], np.isfinite(source[6:]))


def test_sampler_batches_are_seeded_finite_and_wet(test_events):
    first = radar_training_batches(test_events, 4, 6, 12, crop=64, seed=3, augment=False)
    inputs, targets = next(first)
    assert inputs.shape == (4, 6, 64, 64) and targets.shape == (4, 12, 64, 64)
    assert inputs.dtype == targets.dtype == np.float32
    assert np.isfinite(inputs).all() and np.isfinite(targets).all() and inputs.min() >= 0
    assert ((inputs[:, -1] >= 0.5).mean(axis=(1, 2)) >= 0.05).all()
    same = next(radar_training_batches(test_events, 4, 6, 12, crop=64, seed=3, augment=False))
    other = next(radar_training_batches(test_events, 4, 6, 12, crop=64, seed=4, augment=False))
    np.testing.assert_array_equal(same[1], targets)
    assert not np.array_equal(other[1], targets)
    assert not np.array_equal(next(first)[0], inputs)


def test_augmentation_is_one_dihedral_transform_per_window():
    rng = np.random.default_rng(0)
    rain = rng.uniform(0, 5, size=(5, 8, 8)).astype(np.float32)  # exactly one window and crop
    event = RadarEvent("synthetic", rain, (), 1.0)
    transforms = [np.rot90(rain, k, axes=(1, 2)) for k in range(4)]
    transforms += [t[:, :, ::-1] for t in transforms]
    inputs, targets = next(radar_training_batches([event], 64, 2, 3, crop=8, seed=0))
    seen = set()
    for x, y in zip(inputs, targets):
        window = np.concatenate([x, y])
        matches = [i for i, t in enumerate(transforms) if np.array_equal(window, t)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(range(8))


def test_sampler_gives_up_on_dry_events():
    dry = RadarEvent("dry", np.zeros((20, 32, 32), np.float32), (), 1.0)
    with pytest.raises(DataError, match="no 16×16 crop of dry met the acceptance rule in 50"):
        next(radar_training_batches([dry], 2, 4, 4, crop=16, max_tries=50))


def test_dataset_declares_its_batches():
    import tensorflow as tf

    rain = np.full((10, 16, 16), 2.0, np.float32)
    ds = radar.radar_dataset([RadarEvent("wet", rain, (), 1.0)], 2, 3, 4, crop=8)
    assert ds.element_spec[1] == tf.TensorSpec((2, 4, 8, 8), tf.float32)
    inputs, targets = next(iter(ds))
    np.testing.assert_array_equal(inputs.numpy(), np.full((2, 3, 8, 8), 2.0))


def test_corrupt_or_missing_frames_name_the_file_and_its_source(data_dir, tmp_path):
    source = data_dir / "radar" / "mch" / "20170131"
    copy = tmp_path / "radar" / "mch" / "20170131"
    shutil.copytree(source, copy)
    files = sorted(copy.iterdir())
    files[3].chmod(0o644)
    with open(files[3], "r+b") as f:
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(DataError, match=rf"{files[3].name} is corrupt.*expected .*pysteps-data"):
        load_radar_event("mch/20170131", tmp_path, cache_dir=tmp_path / "cache")
    files[3].unlink()
    with pytest.raises(DataError, match=rf"radar/mch/20170131/{files[3].name} is missing.*"
                                        rf"pySTEPS/pysteps-data.*{COMMIT}"):
        load_radar_event("mch/20170131", tmp_path, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_download_fetches_missing_frames_from_the_pinned_commit(data_dir, tmp_path, monkeypatch):
    source = data_dir / "radar" / "fmi" / "pgm" / "20170509"
    shutil.copytree(source, tmp_path / "radar" / "fmi" / "pgm" / "20170509")
    missing = sorted((tmp_path / "radar" / "fmi" / "pgm" / "20170509").iterdir())[-1]
    missing.unlink()
    fetched = []

    def fake_download(spec, path):  # no network in tests: the shared copy stands in
        fetched.append(spec.url)
        shutil.copy(source / path.name, path)

    monkeypatch.setattr(files, "_download", fake_download)
    paths = radar.radar_files("fmi/20170509", tmp_path, download=True)
    assert len(paths) == 40 and paths[-1] == missing and missing.is_file()
    assert fetched == [f"https://raw.githubusercontent.com/pySTEPS/pysteps-data/{COMMIT}/"
                       f"radar/fmi/pgm/20170509/{missing.name}"]


def test_unknown_event_lists_the_known_ones():
    with pytest.raises(DataError, match="unknown radar event 'dwd/20200101'; known: mch/20150515"):
        load_radar_event("dwd/20200101")
    assert len(RADAR_EVENTS) == 5 and set(DEFAULT_TEST_EVENTS) < set(RADAR_EVENTS)
