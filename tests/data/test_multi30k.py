"""Multi30k reader, SentencePiece tokenizers (exact round trips) and bucketed translation batches."""

import gzip
import shutil

import numpy as np
import pytest

from kerasseq.data import files
from kerasseq.data.files import RemoteFile, sha256_of
from kerasseq.data.multi30k import (BOS_ID, BUCKETS, EOS_ID, SPECIAL_TOKENS, UNK_ID, SubwordTokenizer,
                                    load_multi30k, load_or_learn_tokenizers, tokenizer_path,
                                    translation_batches, translation_datasets)
from kerasseq.errors import CheckpointError, DataError


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_dir):
    """A run folder with tokenizers learnt on the whole training split (about 1 s)."""
    path = tmp_path_factory.mktemp("multi30k_run")
    load_or_learn_tokenizers(path, data_dir)
    return path


@pytest.fixture(scope="module")
def tokenizers(run_dir, data_dir):
    return load_or_learn_tokenizers(run_dir, data_dir)


def test_splits_have_the_published_sizes(data_dir):
    sizes = {split: len(load_multi30k(split, data_dir)) for split in ("train", "val", "test")}
    assert sizes == {"train": 29000, "val": 1014, "test": 1000}
    val = load_multi30k("val", data_dir)
    assert val[0] == ("A group of men are loading cotton onto a truck",
                      "Eine Gruppe von Männern lädt Baumwolle auf einen Lastwagen")
    assert sum("\xa0" in de for _, de in val) == 1  # kept as in the file ("120\xa0cm")
    with pytest.raises(ValueError, match="split"):
        load_multi30k("test2017", data_dir)


def _copy(data_dir, tmp_path, name):
    (tmp_path / "multi30k").mkdir(exist_ok=True)
    copy = tmp_path / "multi30k" / name
    shutil.copy(data_dir / "multi30k" / name, copy)
    copy.chmod(0o644)
    return copy


def test_corrupt_copy_fails_checksum(data_dir, tmp_path):
    _copy(data_dir, tmp_path, "test_2016_flickr.en.gz")
    copy = _copy(data_dir, tmp_path, "test_2016_flickr.de.gz")
    with open(copy, "r+b") as f:
        f.seek(5000)
        byte = f.read(1)
        f.seek(5000)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(DataError, match=r"test_2016_flickr.de.gz is corrupt.*sha256"):
        load_multi30k("test", tmp_path)


def test_unaligned_sides_name_both_files(data_dir, tmp_path, monkeypatch):
    _copy(data_dir, tmp_path, "val.en.gz")
    short = tmp_path / "multi30k" / "val.de.gz"
    lines = gzip.open(data_dir / "multi30k" / "val.de.gz", "rt", encoding="utf-8").readlines()
    with gzip.open(short, "wt", encoding="utf-8") as f:
        f.writelines(lines[:-3])
    monkeypatch.setitem(files.FILES, "multi30k/val.de.gz",
                        RemoteFile("multi30k/val.de.gz", sha256_of(short), "https://example.invalid"))
    with pytest.raises(DataError, match=r"val.en.gz has 1014 lines but .*val.de.gz has 1011"):
        load_multi30k("val", tmp_path)


def test_tokenizers_round_trip_every_val_sentence(tokenizers, data_dir):
    source, target = tokenizers
    val = load_multi30k("val", data_dir)
    for side, tokenizer in enumerate(tokenizers):
        assert len(tokenizer) == 8000
        assert [tokenizer.id_to_token(i) for i in range(4)] == list(SPECIAL_TOKENS)
        texts = [pair[side] for pair in val]
        assert tokenizer.decode_batch([tokenizer.encode(t) for t in texts]) == texts
    # Umlauts, ß, hyphens, German quotes, and characters never seen in training (bytes).
    for text in ["Ein Mädchen in einem pfirsichfarben-weißen Kleid.", "„Grüße“ – Öl, Übermaß!",
                 "Ein Quokka 🐨 ĳ ½"]:
        ids = target.encode(text)
        assert UNK_ID not in ids, f"{text!r} has an unknown piece: {target.pieces(text)}"
        assert target.decode(ids) == text
    ids = target.encode("Ein Hund.")
    assert target.decode([BOS_ID, *ids, EOS_ID, 0, 0]) == "Ein Hund."
    assert target.decode([*ids, EOS_ID, *target.encode("Katze")]) == "Ein Hund."
    assert source.pieces("A dog runs.") == ["▁A", "▁dog", "▁runs", "."]  # subwords, not characters


def test_tokenizers_are_saved_and_reloaded(run_dir, tokenizers, data_dir):
    for tokenizer, lang in zip(tokenizers, ("en", "de")):
        assert SubwordTokenizer.load(tokenizer_path(run_dir, lang)).proto == tokenizer.proto
    with pytest.raises(CheckpointError, match="vocabulary_size=4000"):
        load_or_learn_tokenizers(run_dir, data_dir, vocabulary_size=4000)


def test_keras_hub_tokenizer_gives_the_same_ids(tokenizers):
    pytest.importorskip("tensorflow")
    target = tokenizers[1]
    texts = ["Ein Mann mit beginnender Glatze, der eine rote Rettungsweste trägt.", "„Grüße“ – 🐨"]
    hub = target.to_keras_hub()
    assert [list(map(int, row)) for row in hub(texts)] == target.encode_batch(texts)


def test_piece_bytes_detokenise_like_decode(tokenizers, data_dir):
    """Joining each id's bytes (what the exported model does with a lookup table) gives
    decode()'s text: on every test sentence (byte pieces and unknown characters included)
    and on random id sequences, which a young model may emit."""
    for tokenizer, side in zip(tokenizers, (0, 1)):
        table = tokenizer.piece_bytes()
        assert len(table) == len(tokenizer)

        def joined(ids):
            return b"".join(table[i] for i in ids).decode("utf-8", errors="replace").removeprefix(" ")

        texts = [pair[side] for pair in load_multi30k("test", data_dir)] + ["„Grüße“ – 🐨 zürich"]
        for text in texts:
            ids = tokenizer.encode(text)
            assert joined(ids) == tokenizer.decode(ids)
        rng = np.random.default_rng(side)
        words = [i for i in range(len(tokenizer)) if not table[i].startswith(b"<")
                 and len(table[i]) > 1 and b"\xe2\x81\x87" not in table[i]]
        for _ in range(200):
            ids = [int(i) for i in rng.choice(words, rng.integers(1, 12))]
            assert joined(ids) == tokenizer.decode(ids)


def _rows(ds):
    for x, y in ds.as_numpy_iterator():
        yield x, y


def test_evaluation_batches_keep_every_pair_in_a_fixed_order(tokenizers, data_dir):
    source, target = tokenizers
    pairs = load_multi30k("val", data_dir)
    ds = translation_batches(pairs, source, target, batch_size=64, shuffle=False, with_index=True)
    seen, previous = [], 0
    for x, y in _rows(ds):
        b, length = y.shape
        assert x["source"].shape == x["target_in"].shape == (b, length) and b <= 64
        assert x["source"].dtype == x["target_in"].dtype == y.dtype == np.int32
        assert length in BUCKETS and length >= previous  # groups in increasing length
        previous = length
        lower = BUCKETS[BUCKETS.index(length) - 1] if length != BUCKETS[0] else 0
        for i, src, t_in, t_out in zip(x["index"], x["source"], x["target_in"], y):
            n = int((t_out != 0).sum())  # len(y) + 1
            assert t_in[0] == BOS_ID and t_out[n - 1] == EOS_ID
            assert (t_in[1:n] == t_out[: n - 1]).all()  # target_out is target_in shifted left
            assert not t_in[n:].any() and not t_out[n:].any()  # zero padding
            m = int((src != 0).sum())
            assert not src[m:].any() and lower < max(m, n) <= length  # bucketed
            assert source.decode(src) == pairs[i][0] and target.decode(t_out) == pairs[i][1]
            seen.append(int(i))
    assert sorted(seen) == list(range(len(pairs)))
    again = [x["index"].tolist() for x, _ in _rows(ds)]
    assert sum(again, []) == seen  # deterministic
    assert ds.cardinality() == len(again)


def test_max_length_truncates_in_evaluation_and_drops_in_training(tokenizers, data_dir, capsys):
    source, target = tokenizers
    pairs = load_multi30k("val", data_dir)
    lengths = [max(len(source.encode(en)), len(target.encode(de)) + 1) for en, de in pairs]
    long = sum(n > 20 for n in lengths)
    assert long > 0
    ev = translation_batches(pairs, source, target, 32, shuffle=False, max_length=20, name="val")
    assert f"val: truncated {long} of 1014 pairs longer than max_length=20" in capsys.readouterr().out
    assert sum(len(y) for _, y in _rows(ev)) == len(pairs)
    assert max(y.shape[1] for _, y in _rows(ev)) == 24 and all((y != 0).sum(1).max() <= 20 for _, y in _rows(ev))

    train = translation_batches(pairs, source, target, 32, shuffle=True, seed=1, max_length=20,
                                with_index=True, name="val")
    assert f"val: dropped {long} of 1014 pairs longer than max_length=20" in capsys.readouterr().out
    first = list(_rows(train))
    used = {int(i) for x, _ in first for i in x["index"]}
    assert not any(lengths[i] > 20 for i in used) and len(used) > len(pairs) - long - 32 * 2
    first = [y for _, y in first]
    second = [y for _, y in _rows(train)]
    assert len(first) == len(second) == train.cardinality()
    assert all(y.shape[0] == 32 and (y != 0).sum(1).max() <= 20 for y in first)
    assert [y.tolist() for y in first] != [y.tolist() for y in second]  # reshuffled every epoch
    same_seed = translation_batches(pairs, source, target, 32, shuffle=True, seed=1, max_length=20)
    assert [y.tolist() for _, y in _rows(same_seed)] == [y.tolist() for y in first]


def test_translation_datasets_per_split(tokenizers, data_dir):
    datasets = translation_datasets(*tokenizers, batch_size=128, data_dir=data_dir, splits=("train", "test"))
    x, y = next(iter(datasets["train"].as_numpy_iterator()))
    assert y.shape[0] == 128 and set(x) == {"source", "target_in"}
    assert sum(len(y) for _, y in datasets["test"].as_numpy_iterator()) == 1000
