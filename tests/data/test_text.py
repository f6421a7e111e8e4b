import numpy as np
import pytest

from kerasseq.data import CharVocabulary, char_lm_dataset, tbptt_batches
from kerasseq.errors import UserError


def test_vocabulary_round_trip(tmp_path):
    vocab = CharVocabulary.from_text("to be or not to be\n")
    ids = vocab.encode("be not")
    assert ids.dtype == np.int32 and vocab.decode(ids) == "be not"
    vocab.save(tmp_path / "v.json")
    assert CharVocabulary.load(tmp_path / "v.json").chars == vocab.chars


def test_unknown_characters_are_named():
    vocab = CharVocabulary.from_text("abc")
    with pytest.raises(UserError, match=r"outside the model's vocabulary: 'xz'"):
        vocab.encode("axbz")


def test_tbptt_rows_continue_across_batches():
    ids = np.arange(1000)
    x, y = tbptt_batches(ids, batch_size=4, seq_len=10)
    assert x.shape == y.shape == (24, 4, 10)  # 999 // 40 = 24 batches
    np.testing.assert_array_equal(y, x + 1)  # targets are the next character
    for k in range(len(x) - 1):
        np.testing.assert_array_equal(x[k + 1, :, 0], x[k, :, -1] + 1)  # row i continues row i
    # Each row is one contiguous stream; streams tile the text in order.
    stream = x.transpose(1, 0, 2).reshape(4, -1)
    np.testing.assert_array_equal(stream.reshape(-1), np.arange(960))


def test_tbptt_too_short_text_is_an_error():
    with pytest.raises(UserError, match="fewer than one batch"):
        tbptt_batches(np.arange(50), batch_size=4, seq_len=20)


def test_char_lm_dataset_batches():
    vocab = CharVocabulary.from_text("abcdefgh")
    ds = char_lm_dataset("abcdefgh" * 50, vocab, batch_size=2, seq_len=5)
    x, y = next(iter(ds))
    assert x.shape == (2, 5) and y.shape == (2, 5)
    assert vocab.decode(x[0].numpy()) == "abcde" and vocab.decode(y[0].numpy()) == "bcdef"
