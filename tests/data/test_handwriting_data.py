"""The IAM-OnDB line reader on the real (shared) files: Graves' split, checksums, the
training-set normalisation, the length limit, and padded length-grouped batches on both
pipelines (tf.data, and the PyDataset the JAX suite runs)."""

import numpy as np
import pytest

from kerasseq.data import handwriting as hw
from kerasseq.data.epochs import numpy_batches
from kerasseq.errors import DataError, UserError
from kerasseq.tasks.handwriting_config import HANDWRITING_SPLITS, LENGTH_POLICIES


@pytest.fixture(scope="module")
def lines(data_dir):
    return hw.load_iam_ondb(data_dir)


def test_the_papers_split_and_the_file_layout(lines):
    sizes = {name: len(hw.split_lines(lines, name)) for name in hw.SPLITS}
    assert sizes == {"train": 5364, "val1": 1438, "val2": 1518, "test": 3859}  # Graves 2013, §4
    assert len(lines) == 12195 and (lines.split == -1).sum() == 16
    assert tuple(hw.SPLITS) == HANDWRITING_SPLITS and hw.LENGTH_POLICIES == LENGTH_POLICIES
    first = lines.line(0)
    assert first.shape == (568, 3) and lines.line_ids[0] == "a01-000u-01"
    np.testing.assert_array_equal(first[0], [0, 0, 0])
    assert first[-1, 2] == 1 and set(np.unique(first[:, 2])) == {0.0, 1.0}
    assert lines.texts[0] == "A MOVE to stop Mr . Gaitskell"
    with pytest.raises(UserError, match="known: train, val1, val2, test"):
        hw.split_lines(lines, ("train", "val3"))


def test_missing_and_corrupt_files_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="iam_ondb_lines.npz is missing"):
        hw.load_iam_ondb(tmp_path)
    (tmp_path / "handwriting").mkdir()
    for name in ("iam_ondb_lines.npz", "transcriptions.tsv"):
        (tmp_path / "handwriting" / name).write_bytes(b"not the data")
    with pytest.raises(DataError, match="corrupt or a different version"):
        hw.load_iam_ondb(tmp_path)


def test_scale_is_the_std_of_the_predicted_offsets(lines):
    some = lines.subset(np.arange(5))
    rows = np.concatenate([some.line(i)[1:, :2] for i in range(5)]).astype(np.float64)
    np.testing.assert_allclose(hw.offset_scale(some), rows.std(0))
    np.testing.assert_allclose(hw.offset_scale(hw.split_lines(lines, "train")), [42.73, 36.50], atol=0.01)


def test_long_lines_are_truncated_or_skipped_and_counted(lines):
    some = lines.subset(np.arange(40))
    long = some.lengths > 600
    cut, report = hw.limit_length(some, 600, "truncate")
    assert report == {"lines": 40, "long_lines": int(long.sum()),
                      "points_dropped": int((some.lengths[long] - 600).sum())}
    assert len(cut) == 40 and cut.lengths.max() == 600
    np.testing.assert_array_equal(cut.line(int(np.argmax(long))), some.line(int(np.argmax(long)))[:600])
    kept, report = hw.limit_length(some, 600, "skip")
    assert len(kept) == 40 - long.sum() and report["points_dropped"] == some.lengths[long].sum()
    assert hw.limit_length(some, 0)[1]["long_lines"] == 0
    with pytest.raises(UserError, match="--length_policy"):
        hw.limit_length(some, 600, "drop")


def test_batches_shift_by_one_point_and_mark_padding(lines):
    scale = np.array([40.0, 30.0])
    inputs, targets = hw.line_batch(lines, [3, 1], scale, length=700)
    assert inputs.shape == (2, 700, 3) and targets.shape == (2, 700, 4)
    line = lines.line(1)
    n = len(line) - 1
    np.testing.assert_allclose(inputs[1, :n, :2], line[:-1, :2] / scale, rtol=1e-6)
    np.testing.assert_array_equal(targets[1, :n, 2], line[1:, 2])
    np.testing.assert_allclose(targets[1, :n, :2], line[1:, :2] / scale, rtol=1e-6)
    assert targets[1, :n, 3].all() and not targets[1, n:].any() and not inputs[1, n:].any()


def test_datasets_group_lines_by_length_and_cover_them(lines):
    some, _ = hw.limit_length(lines.subset(np.arange(60)), 900)
    scale = hw.offset_scale(some)
    steps = some.lengths - 1
    evaluation = list(numpy_batches(hw.line_dataset(some, scale, 8, train=False, bucket_width=300)))
    assert sum(len(x) for x, _ in evaluation) == 60
    assert sum(y[..., 3].sum() for _, y in evaluation) == steps.sum()  # every point once
    assert {x.shape[1] for x, _ in evaluation} <= {300, 600, int(steps.max())}
    for x, y in evaluation:  # each batch is padded to its group's length, no further
        assert y[..., 3].sum(1).max() > x.shape[1] - 300
    training = hw.line_dataset(some, scale, 8, train=True, bucket_width=300, seed=1)
    first = list(numpy_batches(training))
    if hasattr(training, "on_epoch_end"):  # the PyDataset moves on when Keras ends an epoch
        training.on_epoch_end()
    again = list(numpy_batches(training))
    assert all(len(x) == 8 for x, _ in first)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, again))  # a new epoch order
    with pytest.raises(DataError, match="no full batch"):
        hw.line_dataset(some.subset(np.arange(3)), scale, 8, train=True)
