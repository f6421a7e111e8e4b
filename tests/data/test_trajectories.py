"""ETH/UCY windows cut as Social GAN cuts them: the constant-velocity baseline on our windows
lands on Schöller et al.'s published figures; entering and leaving pedestrians are kept as
neighbours and counted; bad files name themselves."""

import numpy as np
import pytest

from kerasseq.data import files, trajectories
from kerasseq.data.trajectories import (SCENES, batch_plan, cut_windows, load_windows, pad_windows,
                                        read_trajectory_file)
from kerasseq.errors import DataError
from kerasseq.metrics.trajectories import displacement_errors
from kerasseq.trajectory_baselines import constant_velocity


def test_constant_velocity_on_our_windows_lands_on_schoeller_et_al(data_dir):
    # Schöller et al. 2020 (RA-L), constant velocity with Social GAN's windowing.
    published = {"hotel": ("ade", 0.32), "univ": ("ade", 0.52), "zara1": ("ade", 0.43),
                 "zara2": ("ade", 0.32), "eth": ("fde", 2.28)}
    for scene in SCENES:
        test = load_windows(scene, "test", data_dir)
        tracks = test.tracks[test.scored]
        ade, fde = displacement_errors(constant_velocity(tracks[:, :8], 12), tracks[:, 8:])
        measured = {"ade": ade.mean(), "fde": fde.mean()}[published[scene][0]]
        assert measured == pytest.approx(published[scene][1], abs=0.005), scene
    assert int(load_windows("eth", "test", data_dir).scored.sum()) == 364  # Social GAN's count


def test_folds_hold_the_test_scene_out(data_dir):
    test = load_windows("hotel", "test", data_dir)
    train = load_windows("hotel", "train", data_dir)
    assert test.files == ("biwi_hotel.txt",)
    assert not any(name.startswith("biwi_hotel") for name in train.files)
    assert len(train.files) == 7 and len(train) > 2000  # zara3, uni_examples train too
    counts = test.counts
    assert counts["scored_tracks"] == int(test.scored.sum())
    assert counts["partial_tracks"] == int((~test.scored).sum()) > 0
    assert len(test.offsets) == counts["windows"] + 1
    # Every scored row is present throughout; every partial row somewhere but not throughout.
    assert test.present[test.scored].all()
    partial = test.present[~test.scored]
    assert partial.any(axis=1).all() and not partial.all(axis=1).any()
    assert np.isnan(test.tracks[~test.present]).all()


def _rows(*tracks):
    """Rows of a file from ``(pedestrian, first frame index, positions)`` tracks, 10 ids a frame."""
    rows = []
    for ped, first, positions in tracks:
        for k, (x, y) in enumerate(positions):
            rows.append([10 * (first + k), ped, x, y])
    return np.asarray(sorted(rows), float)


def test_windows_score_full_tracks_and_keep_the_others_as_neighbours():
    line = [(0.5 * t, 0.0) for t in range(22)]  # 22 frames: windows starting at 0, 1, 2
    late = [(0.0, 1.0 + 0.1 * t) for t in range(10)]  # enters at frame 5, leaves after 14
    rows = _rows((1, 0, line), (2, 5, late))
    tracks, present, scored, sizes, origin, counts = cut_windows(rows, frames=20)
    assert sizes.tolist() == [2, 2, 2] and origin[:, 1].tolist() == [0, 10, 20]
    assert scored.tolist() == [True, False] * 3
    np.testing.assert_allclose(tracks[0, :, 0], 0.5 * np.arange(20))
    assert present[1].tolist() == [False] * 5 + [True] * 10 + [False] * 5
    assert counts == dict(windows=3, scored_tracks=3, partial_tracks=3, dropped_windows=0,
                          dropped_scored_tracks=0)
    # With no full track the window is dropped, and counted.
    tracks, present, scored, sizes, origin, counts = cut_windows(_rows((2, 5, late)), frames=20)
    assert len(sizes) == 0 and counts["windows"] == 0
    both = cut_windows(rows, frames=20, min_scored=2)[5]
    assert both["dropped_windows"] == 3 and both["dropped_scored_tracks"] == 3


def test_padding_and_batches():
    line = [(0.5 * t, 0.0) for t in range(21)]
    rows = _rows((1, 0, line), (2, 0, [(0, 1)] * 21), (3, 3, [(1, 1)] * 4))
    parts = cut_windows(rows, frames=20)
    sizes = parts[3]
    windows = trajectories.TrajectoryWindows(*parts[:3], np.r_[0, np.cumsum(sizes)], parts[4],
                                             ("f.txt",), parts[5])
    positions, present, scored = pad_windows(windows, [1, 0])
    assert positions.shape == (2, 8, 20, 2) and present.shape == (2, 8, 20)
    assert scored[:, :3].tolist() == [[True, True, False]] * 2 and not scored[:, 3:].any()
    assert positions[~present].tolist() == [[0.0, 0.0]] * int((~present).sum())
    plan = batch_plan(windows, 1, np.random.default_rng(0))
    assert sorted(int(b[0]) for b in plan) == [0, 1]
    subset = windows.subset([1])
    assert len(subset) == 1 and subset.origin[0, 1] == 10 and subset.pedestrians.tolist() == [3]
    assert subset.counts == dict(windows=1, scored_tracks=2, partial_tracks=1)


def test_bad_rows_and_missing_files_name_the_file(tmp_path, data_dir, monkeypatch):
    bad = tmp_path / "bad.txt"
    bad.write_text("10\t1\t0.5\t0.5\n20\t1\tnan\t0.5\n")
    with pytest.raises(DataError, match=r"bad.txt, line 2: expected four numbers"):
        read_trajectory_file(bad)
    with pytest.raises(DataError, match="unknown ETH/UCY scene 'zara3'"):
        load_windows("zara3", "test", data_dir)
    with pytest.raises(DataError, match=r"eth-ucy/eth/test/biwi_eth.txt is missing.*"
                                        r"Trajectron-plus-plus.*raw/eth/test/biwi_eth.txt"):
        load_windows("eth", "test", tmp_path)
    fetched = []

    def fake_download(spec, path):  # no network in tests: the shared copy stands in
        fetched.append(spec.url)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((data_dir / spec.path).read_bytes())

    monkeypatch.setattr(files, "_download", fake_download)
    assert len(load_windows("eth", "test", tmp_path, download=True)) > 0
    assert fetched == [f"{trajectories.SOURCE_URL}/eth/test/biwi_eth.txt"]
