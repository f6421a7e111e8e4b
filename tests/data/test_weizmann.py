"""Weizmann silhouettes: the 90-video set on the real data, leave-one-actor-out folds without
actor leakage, the checksum and its errors, and the training and evaluation clips."""

import shutil

import numpy as np
import pytest

from kerasseq.data import weizmann
from kerasseq.data.epochs import numpy_batches
from kerasseq.errors import DataError
from kerasseq.tasks.video_config import WEIZMANN_ACTORS


@pytest.fixture(scope="module")
def videos(data_dir):
    return weizmann.load_weizmann(data_dir)


def test_standard_set_has_one_video_per_actor_and_action(videos, data_dir):
    assert len(videos) == 90 and weizmann.ACTORS == WEIZMANN_ACTORS
    pairs = set(zip(videos.actors.tolist(), videos.labels.tolist()))
    assert pairs == {(a, k) for a in range(9) for k in range(10)}
    assert videos.frames.dtype == np.uint8 and videos.frames.max() == 255
    assert 0.9 < np.mean(videos.video(0) == 0) < 1  # silhouettes on an empty background
    assert videos.video(0).shape == (84, 64, 64) and videos.lengths.min() >= 28
    assert str(videos.names[0]) == "daria_bend"
    every = weizmann.load_weizmann(data_dir, second_repetitions=True)
    assert len(every) == 93 and np.bincount(every.actors)[weizmann.ACTORS.index("lena")] == 13


def test_leave_one_actor_out_never_leaks_an_actor(videos):
    seen = []
    for fold in range(9):
        train, test = weizmann.actor_split(videos, fold)
        assert set(test.actors.tolist()) == {fold} and fold not in set(train.actors.tolist())
        assert len(train) == 80 and len(test) == 10 and sorted(test.labels) == list(range(10))
        seen += test.names.tolist()
    assert sorted(seen) == sorted(videos.names.tolist())  # every video is tested exactly once
    with pytest.raises(ValueError, match="fold=9"):
        weizmann.actor_split(videos, 9)


def test_missing_and_corrupt_files_name_the_file(data_dir, tmp_path):
    with pytest.raises(DataError, match=r"weizmann/weizmann_silhouettes_64.npz is missing"):
        weizmann.load_weizmann(tmp_path)
    (tmp_path / "weizmann").mkdir()
    copy = tmp_path / weizmann.WEIZMANN_FILE
    shutil.copy(data_dir / weizmann.WEIZMANN_FILE, copy)
    with open(copy, "r+b") as f:
        f.seek(1000)
        f.write(b"\0\1\2")
    with pytest.raises(DataError, match=r"weizmann_silhouettes_64.npz is corrupt.*sha256"):
        weizmann.load_weizmann(tmp_path)


def test_evaluation_clips_cover_every_frame():
    for length in (28, 31, 32, 61, 84, 146):
        starts = weizmann.evaluation_starts(length, 16, 2, 8)
        covered = np.zeros(length, bool)
        for s in starts:
            covered[weizmann.clip_frame_indices(length, s, 16, 2)] = True
        # Every frame of the video lies within some clip's span; the last clip ends the video.
        spans = np.zeros(length, bool)
        for s in starts:
            spans[s:s + weizmann.clip_span(16, 2)] = True
        assert spans.all() and starts[0] == 0, length
        assert weizmann.clip_frame_indices(length, starts[-1], 16, 2)[-1] == length - 1
        assert np.all(np.diff(starts) <= 8) and np.all(np.diff(starts) > 0)
    # Shorter than a clip's span (31 frames): one clip, the last frame repeated.
    np.testing.assert_array_equal(weizmann.clip_frame_indices(28, 0, 16, 2)[-3:], [26, 27, 27])


def test_training_and_evaluation_batches(videos):
    train, test = weizmann.actor_split(videos, 0)
    rng = np.random.default_rng(0)
    rows = weizmann.training_clips(train, 3, 16, 2, True, rng)
    assert rows.shape == (240, 3) and sorted(np.bincount(rows[:, 0])) == [3] * 80
    assert np.all(rows[:, 1] + weizmann.clip_span(16, 2) <= np.maximum(train.lengths[rows[:, 0]], 31))
    assert 0.3 < rows[:, 2].mean() < 0.7
    clips, labels = weizmann.clip_batch(train, rows[:4], 16, 2)
    assert clips.shape == (4, 16, 64, 64, 1) and clips.dtype == np.float32 and clips.max() == 1.0
    v, s, flip = rows[0]
    expected = (train.video(v)[s:s + 31:2] / 255.0).astype(np.float32)
    np.testing.assert_array_equal(clips[0, ..., 0], expected[..., ::-1] if flip else expected)
    assert labels[0] == train.labels[v]

    ds = weizmann.clip_dataset(train, 16, 2, 16, train=True, clips_per_video=2, flip=True)
    first = [y for _, y in numpy_batches(ds)]
    assert len(first) == 10 and all(len(y) == 16 for y in first)
    if hasattr(ds, "on_epoch_end"):  # a PyDataset (no TensorFlow): fit moves it on
        ds.on_epoch_end()
    second = [y for _, y in numpy_batches(ds)]  # the next epoch draws other clips
    assert any(not np.array_equal(a, b) for a, b in zip(first, second))
    eval_rows = weizmann.evaluation_clips(test, 16, 2, 8)
    held_out = list(numpy_batches(weizmann.clip_dataset(test, 16, 2, 16, train=False, stride=8)))
    assert sum(len(y) for _, y in held_out) == len(eval_rows)
    np.testing.assert_array_equal(np.concatenate([y for _, y in held_out]), test.labels[eval_rows[:, 0]])


def test_video_scores_average_each_videos_clips():
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [0.2, 0.8]])
    np.testing.assert_allclose(weizmann.video_scores(scores, np.array([0, 0, 1]), 2),
                               [[0.5, 0.5], [0.2, 0.8]])
