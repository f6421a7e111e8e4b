"""MR reader, Kim's tokenizer (Python and TensorFlow agree), folds and vocabularies."""

import numpy as np
import pytest

from kerasseq.data.mr import clean_str, load_mr, stratified_folds
from kerasseq.data.text import WordVocabulary


def test_load_mr_reads_every_line(data_dir):
    sentences, labels = load_mr(data_dir)
    assert len(sentences) == 10662  # 5,331 per class, as published (0x85 is not a line break)
    assert labels.tolist() == [0] * 5331 + [1] * 5331
    assert all(s and s == s.strip() for s in sentences)


def test_clean_str_splits_clitics_and_punctuation():
    assert clean_str("It's a SLOW, dull film (isn't it?)") == "it 's a slow , dull film ( is n't it ? )"


def test_tensorflow_tokenizer_matches_python(data_dir):
    tf = pytest.importorskip("tensorflow")
    from kerasseq.data.mr import tf_standardize

    raw = ["It's a SLOW, dull film (isn't it?)", "Émile's   café: 5/5 stars!!", "  we'll see  "]
    sentences, _ = load_mr(data_dir)
    texts = raw + sentences[::50]
    got = [t.decode() for t in tf_standardize(tf.constant(texts)).numpy()]
    assert got == [clean_str(t) for t in texts]


def test_stratified_folds_partition_each_class_evenly():
    labels = np.array([0] * 53 + [1] * 47)
    folds = stratified_folds(labels, 10, seed=3)
    for k in range(10):
        counts = np.bincount(labels[folds == k], minlength=2)
        assert set(counts[:1]) <= {5, 6} and set(counts[1:]) <= {4, 5}
    assert (stratified_folds(labels, 10, seed=3) == folds).all()


def test_word_vocabulary_pads_and_marks_unknown_tokens(tmp_path):
    vocab = WordVocabulary.from_sentences([["b", "a", "b"], ["c"]], min_count=1)
    assert vocab.tokens == ["b", "a", "c"] and len(vocab) == 5
    assert vocab.encode(["a", "zzz", "b"], max_len=5).tolist() == [3, 1, 2, 0, 0]
    assert vocab.encode(list("abcabc"), max_len=2).tolist() == [3, 2]
    vocab.save(tmp_path / "v.json")
    assert WordVocabulary.load(tmp_path / "v.json").tokens == vocab.tokens
    assert WordVocabulary.from_sentences([["b", "a", "b"]], min_count=2).tokens == ["b"]
