"""Stanford Sentiment Treebank: the PTB tree reader on the real files, label settings, the
post-order node arrays and the batched pipeline."""

import numpy as np
import pytest

from kerasseq.data.treebank import (SPLITS, build_vocabulary, load_sst, parse_tree, read_trees,
                                    setting_labels, setting_trees, tree_arrays, treebank_dataset)
from kerasseq.errors import DataError


@pytest.fixture(scope="module")
def sst(data_dir):
    return {split: load_sst(split, data_dir) for split in SPLITS}


def test_splits_have_the_published_sizes(sst, data_dir):
    assert {s: len(t) for s, t in sst.items()} == {"train": 8544, "dev": 1101, "test": 2210}
    binary = {s: len(setting_trees(t, "binary")) for s, t in sst.items()}
    assert binary == {"train": 6920, "dev": 872, "test": 1821}
    assert len(load_sst("dev", data_dir, setting="binary")) == 872


def test_every_tree_is_binary(sst):
    for trees in sst.values():
        for tree in trees:
            nodes = tree.post_order()
            assert all((n.word is not None) != (n.left is not None and n.right is not None)
                       for n in nodes)
            assert len(nodes) == 2 * len(tree.leaves()) - 1
            assert all(0 <= n.label <= 4 for n in nodes)


def test_no_break_space_stays_inside_a_token(sst):
    tree = parse_tree("(2 (2 nearly) (2 2\xa01\\/2))")
    assert tree.leaves() == ["nearly", "2\xa01\\/2"]
    words = {w for t in sst["train"] for w in t.leaves()}
    assert {"8\xa01\\/2", "2\xa01\\/2"} <= words
    assert not any(" " in w or w == "" for w in words)


def test_parse_tree_reads_labels_words_and_structure():
    tree = parse_tree("(3 (2 It) (4 (2 's) (4 good)))\n")
    assert (tree.label, tree.left.word, tree.right.label, tree.right.right.word) == (3, "It", 4, "good")
    assert [n.label for n in tree.post_order()] == [2, 2, 4, 4, 3]
    assert len(tree) == 5 and tree.leaves() == ["It", "'s", "good"]


@pytest.mark.parametrize("line, message", [
    ("(3 (2 a) (2 b)", r"unbalanced brackets: 1 '\(' left open"),
    ("(3 (2 a) (2 b)))", "text after the end of the tree"),
    ("(x (2 a) (2 b))", "label 'x' is not an integer"),
    ("(3 (7 a) (2 b))", "label 7 is outside 0-4"),
    ("(3 (2 a))", "a node with 1 child"),
    ("(3 (2 a) (2 b) (2 c))", "a node with 3 children"),
    ("(3 a b)", "a leaf with 2 words"),
    ("(3 a (2 b))", "a node with both a word and children"),
    ("", "empty line"),
])
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.txt"
    path.write_text("(2 (2 fine) (2 tree))\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"bad\.txt, line 2: {message}"):
        read_trees(path)


def test_setting_labels():
    assert setting_labels([0, 1, 2, 3, 4, -1], "fine").tolist() == [0, 1, 2, 3, 4, -1]
    assert setting_labels([0, 1, 2, 3, 4, -1], "binary").tolist() == [0, 0, -1, 1, 1, -1]
    with pytest.raises(ValueError, match="setting"):
        setting_labels([0], "coarse")


def test_vocabulary_pads_with_zero_and_marks_unknown_words(sst):
    vocab = build_vocabulary(sst["train"])
    assert len(vocab) == len({w for t in sst["train"] for w in t.leaves()}) + 2
    assert vocab.lookup(["never-seen-word"]) == [1] and min(vocab.lookup(vocab.tokens)) == 2
    x = tree_arrays([parse_tree("(2 (2 the) (2 never-seen-word))")], vocab, "fine")
    assert x["tokens"].tolist() == [[vocab.lookup(["the"])[0], 1, 0]]


def test_tree_arrays_are_consistent_post_order(sst):
    trees = sst["dev"]
    vocab = build_vocabulary(trees)  # every dev word known: tokens decode to the leaves
    x = tree_arrays(trees, vocab, "fine")
    B, N = x["tokens"].shape
    assert B == len(trees) and N == max(len(t) for t in trees)
    assert all(x[k].dtype == np.int32 for k in ("tokens", "left", "right", "level", "labels", "root"))
    count = np.array([len(t) for t in trees])
    index = np.arange(N)
    assert (x["node_mask"] == (index < count[:, None])).all()
    assert (x["root"] == count - 1).all()  # the root is the last real node
    leaf = x["node_mask"] & (x["left"] < 0)
    inner = x["node_mask"] & ~leaf
    assert ((x["left"] >= 0) == inner).all() and ((x["right"] >= 0) == inner).all()
    assert (x["left"][inner] < x["right"][inner]).all()
    assert (x["right"][inner] < np.broadcast_to(index, (B, N))[inner]).all()  # children first
    rows = np.broadcast_to(np.arange(B)[:, None], (B, N))
    children = np.maximum(x["level"][rows, np.maximum(x["left"], 0)],
                          x["level"][rows, np.maximum(x["right"], 0)])
    assert (x["level"][inner] == 1 + children[inner]).all() and (x["level"][leaf] == 0).all()
    assert (x["level"][~x["node_mask"]] == -1).all()
    assert ((x["tokens"] > 1) == leaf).all()  # words at leaves, 0 elsewhere
    pad = ~x["node_mask"]
    assert (x["left"][pad] == -1).all() and (x["labels"][pad] == -1).all()
    for b in (0, 500, B - 1):
        tokens = x["tokens"][b][leaf[b]]
        assert [vocab.tokens[i - 2] for i in tokens] == trees[b].leaves()
        assert x["labels"][b, :count[b]].tolist() == [n.label for n in trees[b].post_order()]

    binary = tree_arrays(trees[:5], vocab, "binary", max_nodes=N + 3)
    assert binary["labels"].shape == (5, N + 3)
    np.testing.assert_array_equal(binary["labels"][:, :N], setting_labels(x["labels"][:5], "binary"))
    assert (binary["labels"][:, N:] == -1).all() and (binary["level"][:, N:] == -1).all()
    with pytest.raises(ValueError, match="max_nodes"):
        tree_arrays(trees, vocab, "fine", max_nodes=N - 1)


def _first_batch(dataset):
    return dataset[0] if hasattr(dataset, "__getitem__") else next(iter(dataset))


def _check_batch(inputs, labels, batch_size):
    assert sorted(inputs) == ["left", "level", "node_mask", "right", "root", "tokens"]
    shape = tuple(np.shape(labels))
    assert shape[0] == batch_size and shape[1] in (16, 32, 64, 128)
    for name in ("tokens", "left", "right", "level", "node_mask"):
        assert tuple(np.shape(inputs[name])) == shape
    assert tuple(np.shape(inputs["root"])) == (batch_size,)


def test_tf_dataset_batches_by_node_count(sst):
    pytest.importorskip("tensorflow")
    trees = setting_trees(sst["dev"][:40], "binary")
    vocab = build_vocabulary(sst["train"][:200])
    ds = treebank_dataset(trees, vocab, "binary", batch_size=8, shuffle=False)
    batches = list(ds)
    for inputs, labels in batches:
        _check_batch(inputs, labels, 8)
        assert labels.dtype.name == "int32" and inputs["node_mask"].dtype.name == "bool"
    real = sum(int((inputs["level"].numpy() >= 0).any(axis=1).sum()) for inputs, _ in batches)
    assert real == len(trees)  # each tree once; filler rows are empty
    nodes = sum(int(inputs["node_mask"].numpy().sum()) for inputs, _ in batches)
    assert nodes == sum(len(t) for t in trees)


def test_pydataset_without_tensorflow(sst):
    try:
        import tensorflow  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        pytest.skip("TensorFlow is installed: treebank_dataset returns a tf.data pipeline")
    trees = sst["dev"][:30]
    ds = treebank_dataset(trees, build_vocabulary(trees), "fine", batch_size=4, shuffle=True)
    assert len(ds) > 0
    _check_batch(*_first_batch(ds), 4)
