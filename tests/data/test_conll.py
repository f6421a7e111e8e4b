"""CoNLL-2003 reader, tag schemes, tagging vocabularies and bucketed batches."""

import gzip

import numpy as np
import pytest

from kerasseq.data.conll import (TAGS, TaggingVocabulary, bucket_length, iob2_to_iobes, iob_to_iob2,
                                 iobes_to_iob2, load_conll2003, read_conll, tagging_batches)
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
