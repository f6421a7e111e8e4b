"""CoNLL-2003 reader, tag schemes, casing classes, tagging vocabularies and bucketed batches."""

import gzip

import numpy as np
import pytest

from kerasseq.data.conll import (CASING_CLASSES, TAGS, TaggingVocabulary, bucket_length, casing_class,
                                 iob2_to_iobes, iob_to_iob2, iobes_to_iob2, load_conll2003, read_conll,
                                 tagging_batches)
from kerasseq.errors import DataError


def test_splits_have_the_published_sizes(data_dir):
    sizes = {split: len(load_conll2003(split, data_dir)) for split in ("train", "valid", "test")}
    assert sizes == {"train": 14041, "valid": 3250, "test": 3453}
    tokens, tags = load_conll2003("train", data_dir)[0]
    assert tokens[:3] == ["EU", "rejects", "German"] and tags[:3] == ["B-ORG", "O", "B-MISC"]


def test_test_split_has_5648_entities(data_dir):
    entities = sum(t.startswith("B-") for _, tags in load_conll2003("test", data_dir) for t in tags)
    assert entities == 5648


def test_iob1_becomes_iob2():
    assert iob_to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"]) == \
        ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "B-ORG"]
    assert iob_to_iob2(["B-PER", "I-PER"]) == ["B-PER", "I-PER"]


def test_iobes_round_trip_and_ill_formed_predictions():
    iob2 = ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-ORG"]
    iobes = iob2_to_iobes(iob2)
    assert iobes == ["B-PER", "I-PER", "E-PER", "O", "S-LOC", "B-LOC", "E-LOC", "O", "S-ORG"]
    assert iobes_to_iob2(iobes) == iob2
    # A stray E-/I- begins an entity; an I- after an S- of the same type too.
    assert iobes_to_iob2(["E-PER", "O", "S-LOC", "I-LOC", "I-ORG"]) == \
        ["B-PER", "O", "B-LOC", "B-LOC", "B-ORG"]


def test_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt.gz"
    with gzip.open(path, "wt") as f:
        f.write("EU NNP B-NP B-ORG\nrejects VBZ\n")
    with pytest.raises(DataError, match=r"bad.txt.gz, line 2: expected 4 fields"):
        read_conll(path)


def test_vocabulary_normalises_words_and_orders_singletons_last():
    sentences = [(["Paris", "2024", "paris", "Rome"], ["B-LOC", "O", "B-LOC", "B-LOC"])]
    vocab = TaggingVocabulary.from_sentences(sentences)
    assert vocab.words.tokens[0] == "paris" and set(vocab.words.tokens[1:]) == {"0000", "rome"}
    assert vocab.first_singleton == 3
    words, chars = vocab.encode(["PARIS", "1999", "Oslo"], 5, 3)
    assert words.tolist()[:3] == [2, vocab.words.lookup(["0000"])[0], 1] and words[3:].tolist() == [0, 0]
    assert chars.shape == (5, 3) and chars[0].tolist() == vocab.chars.lookup(list("PAR"))
    assert TaggingVocabulary.from_dict(vocab.to_dict()).to_dict() == vocab.to_dict()


def test_batches_bucket_shapes_and_cover_every_sentence(data_dir):
    sentences = load_conll2003("valid", data_dir)[:300]
    vocab = TaggingVocabulary.from_sentences(sentences)
    ds = tagging_batches(sentences, vocab, batch_size=16, max_word_len=10, shuffle=False)
    shapes, rows = set(), 0
    for x, y in ds.as_numpy_iterator():
        assert x["words"].shape == y.shape and x["chars"].shape == (*y.shape, 10)
        assert ((x["words"] != 0) == (y >= 0)).all()
        shapes.add(y.shape)
        rows += int((y >= 0).any(axis=1).sum())
    assert rows == len(sentences)
    assert all(b == 16 and t in (16, 32, 64, 128) for b, t in shapes)
    tag_count = sum(len(t) for _, t in sentences)
    assert sum(int((y >= 0).sum()) for _, y in ds.as_numpy_iterator()) == tag_count
    train = tagging_batches(sentences, vocab, batch_size=16, max_word_len=10, shuffle=True,
                            word_dropout=0.5)
    first = [y.tolist() for _, y in train.as_numpy_iterator()]
    second = [y.tolist() for _, y in train.as_numpy_iterator()]
    assert len(first) == train.cardinality() and first != second  # reshuffled every epoch
    assert bucket_length(5) == 16 and bucket_length(129) == 192
    assert TAGS[0] == "O" and len(TAGS) == 17


# Tokens and their casing class; Reimers & Gurevych's getCasing agrees on every one but "".
CASINGS = {
    "1996": "numeric", "0": "numeric", "٣٤": "numeric",  # Arabic-Indic digits are digits too
    "1,000": "mainly_numeric", "1996-08-22": "mainly_numeric", "12a": "mainly_numeric",
    "the": "all_lower", "3rd": "all_lower", "1a": "all_lower", "ß": "all_lower", "école": "all_lower",
    "EU": "all_upper", "U.S.": "all_upper", "F-16": "all_upper", "ÉCOLE": "all_upper", "Σ": "all_upper",
    "McDonald": "initial_upper", "Zürich": "initial_upper", "German": "initial_upper",
    "İstanbul": "initial_upper", "Ph.D.": "initial_upper",
    "+1": "contains_digit", "x86-Bit": "contains_digit",
    "iPhone": "other", "-": "other", ".": "other", "": "other", "日本": "other", "²": "other",
}


def test_casing_classes():
    assert CASING_CLASSES[0] == "padding" and len(set(CASING_CLASSES)) == 8
    assert {t: CASING_CLASSES[casing_class(t)] for t in CASINGS} == CASINGS
    assert set(CASINGS.values()) == set(CASING_CLASSES) - {"padding"}  # every class is exercised


def test_tensorflow_casing_classes_equal_python():
    """The SavedModel's casing classes (TensorFlow regex ops) are the Python ones."""
    import tensorflow as tf

    from kerasseq.export import casing_classes_tf

    # The tricky tokens, every character of Latin-1 and Latin Extended-A/B alone, and words.
    tokens = [*CASINGS, *map(chr, range(1, 0x250)), "ǅungla", "ǅ", "aǅ", "Ⅷ", "ⅷ", "a\nB", "\nA",
              "e\u0301cole", "E\u0301COLE", "ﬁne", "Ǆ1", "1,000,000.5", "$5", "A1", "a1B", " "]
    expected = [casing_class(t) for t in tokens]
    assert casing_classes_tf(tf.constant(tokens)).numpy().tolist() == expected
    batch = tf.constant([["McDonald", "1,000"], ["U.S.", "iPhone"]])  # any shape
    assert casing_classes_tf(batch).numpy().tolist() == [[6, 3], [5, 1]]


def test_encode_and_batches_add_casing_on_request(data_dir):
    sentences = [(["Paris", "1999", "paris"], ["B-LOC", "O", "B-LOC"])]
    vocab = TaggingVocabulary.from_sentences(sentences)
    words, chars, casing = vocab.encode(["Paris", "1,000", "iPhone"], 5, 3, casing=True)
    assert casing.dtype == np.int32 and casing.tolist() == [
        CASING_CLASSES.index(c) for c in ("initial_upper", "mainly_numeric", "other", "padding", "padding")]
    assert len(vocab.encode(["Paris"], 2, 3)) == 2  # the old two arrays by default

    sentences = load_conll2003("valid", data_dir)[:100]
    vocab = TaggingVocabulary.from_sentences(sentences)
    # Each sentence's casing classes, found by its character ids (which keep the case).
    expected = {vocab.encode(t, len(t), 10)[1].tobytes(): [casing_class(w) for w in t] for t, _ in sentences}
    for shuffle, word_dropout in ((False, 0.0), (True, 0.9)):  # <unk> words keep their class
        ds = tagging_batches(sentences, vocab, batch_size=16, max_word_len=10, shuffle=shuffle,
                             word_dropout=word_dropout, casing=True)
        assert set(ds.element_spec[0]) == {"words", "chars", "casing"}
        seen = 0
        for x, y in ds.as_numpy_iterator():
            assert x["casing"].shape == y.shape and x["casing"].dtype == np.int32
            assert ((x["casing"] != 0) == (y >= 0)).all()  # class 0 only on padding
            assert ((x["words"] == 1).any()) == bool(word_dropout)
            for chars, classes, tags in zip(x["chars"], x["casing"], y):
                if (tags >= 0).any():
                    assert classes[tags >= 0].tolist() == expected[chars[tags >= 0].tobytes()]
                    seen += 1
        assert seen == len(sentences) or shuffle
    plain = tagging_batches(sentences, vocab, batch_size=16, max_word_len=10, shuffle=False)
    assert set(plain.element_spec[0]) == {"words", "chars"}
