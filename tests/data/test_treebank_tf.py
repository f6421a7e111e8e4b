"""The in-graph reader of bracketed trees gives the Python reader's node arrays (TensorFlow)."""

import numpy as np
import pytest

from kerasseq.data.treebank import build_vocabulary, parse_tree, tree_arrays

tf = pytest.importorskip("tensorflow")


def test_tf_tree_arrays_match_the_python_reader(data_dir):
    from kerasseq.data.treebank_tf import tf_tree_arrays

    lines = (data_dir / "sst" / "dev.txt").read_text(encoding="utf-8").split("\n")[:100]
    trees = [parse_tree(line) for line in lines]
    vocab = build_vocabulary(trees[:30])  # later trees have unknown words
    ids = tf.constant(list(range(2, len(vocab))), tf.int32)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(vocab.tokens), ids), 1)
    read = tf.function(lambda s: tf_tree_arrays(s, table.lookup),
                       input_signature=[tf.TensorSpec((), tf.string)])
    for line, tree in zip(lines, trees):
        want = tree_arrays([tree], vocab, "fine")
        got = read(tf.constant(line))
        assert set(got) == set(want)
        for name, value in want.items():
            np.testing.assert_array_equal(got[name].numpy(), value, err_msg=f"{name}: {line[:60]}")
