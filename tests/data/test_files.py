import shutil

import pytest

from kerasseq.data import dataset_file, load_tinyshakespeare, resolve_data_dir
from kerasseq.errors import DataError


def test_verified_file_is_returned(data_dir):
    assert dataset_file("tinyshakespeare/input.txt", data_dir).stat().st_size == 1_115_394


def test_data_dir_from_environment(data_dir, monkeypatch):
    monkeypatch.setenv("KERASSEQ_DATA_DIR", str(data_dir))
    assert resolve_data_dir() == data_dir


def test_no_data_dir_names_the_variable(monkeypatch):
    monkeypatch.delenv("KERASSEQ_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="KERASSEQ_DATA_DIR"):
        resolve_data_dir()


def test_missing_dir_is_named(tmp_path):
    with pytest.raises(DataError, match="nowhere.*does not exist"):
        resolve_data_dir(tmp_path / "nowhere")


def test_missing_file_names_file_and_source(tmp_path):
    with pytest.raises(DataError, match=r"tinyshakespeare/input.txt is missing.*karpathy/char-rnn"):
        dataset_file("tinyshakespeare/input.txt", tmp_path)


def test_corrupt_file_fails_checksum(tmp_path, data_dir):
    (tmp_path / "tinyshakespeare").mkdir()
    copy = tmp_path / "tinyshakespeare" / "input.txt"
    shutil.copy(data_dir / "tinyshakespeare" / "input.txt", copy)
    copy.chmod(0o644)
    with open(copy, "r+b") as f:
        f.seek(1000)
        f.write(b"#")
    with pytest.raises(DataError, match=r"input.txt is corrupt.*sha256"):
        dataset_file("tinyshakespeare/input.txt", tmp_path)


def test_tinyshakespeare_split_and_vocabulary(data_dir):
    train, val, vocab = load_tinyshakespeare(data_dir)
    assert len(train) == 1_003_854 and len(val) == 111_540
    assert len(vocab) == 65
    assert train.startswith("First Citizen:")
