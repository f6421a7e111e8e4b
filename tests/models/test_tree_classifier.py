"""Tree sentiment classifiers: output shapes, the root's logits, the leaves in sentence
order, and a `.keras` round trip for every model (TensorFlow and JAX)."""

import keras
import numpy as np
import pytest

from kerasseq.data.treebank import build_vocabulary, parse_tree, tree_arrays
from kerasseq.models.tree_classifier import (TREE_MODELS, LeafTokens, build_tree_classifier,
                                             gather_root)

TREES = ["(3 (2 (2 a) (3 (3 gripping) (2 film))) (2 .))", "(1 (2 too) (1 long))",
         "(4 (3 (2 the) (4 (4 best) (2 (2 of) (2 all)))) (2 !))"]


@pytest.fixture(scope="module")
def batch():
    trees = [parse_tree(t) for t in TREES]
    vocab = build_vocabulary(trees)
    x = tree_arrays(trees, vocab, "fine", max_nodes=16)
    labels = x.pop("labels")
    return vocab, trees, x, labels


@pytest.mark.parametrize("model", TREE_MODELS)
def test_shapes_and_keras_round_trip(model, batch, tmp_path):
    vocab, _, x, _ = batch
    net = build_tree_classifier(len(vocab), 5, model=model, units=6,
                                embedding_dim=6 if model in ("rntn", "rnn") else 4, dropout=0.2)
    logits = keras.ops.convert_to_numpy(net.predict_on_batch(x))
    assert logits.shape == ((3, 16, 5) if model != "bilstm" else (3, 5))
    assert np.all(np.isfinite(logits))
    net.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again.predict_on_batch(x)), logits,
                               rtol=1e-5, atol=1e-6)


def test_root_logits_and_padding(batch):
    vocab, trees, x, _ = batch
    net = build_tree_classifier(len(vocab), 2, model="treelstm", units=5, embedding_dim=3)
    logits = keras.ops.convert_to_numpy(net.predict_on_batch(x))
    root = keras.ops.convert_to_numpy(gather_root(logits, x["root"]))
    np.testing.assert_array_equal(root, logits[np.arange(3), x["root"]])
    assert list(x["root"]) == [len(t) - 1 for t in trees]
    # Padding nodes have zero states, so their logits are the classifier's bias alone.
    bias = keras.ops.convert_to_numpy(net.get_layer("classifier").bias)
    np.testing.assert_allclose(logits[1, len(trees[1]):], np.broadcast_to(bias, (16 - 3, 2)), atol=1e-6)


def test_leaf_tokens_are_the_words_in_order(batch):
    vocab, trees, x, _ = batch
    words = keras.ops.convert_to_numpy(LeafTokens()([x["tokens"], x["level"]]))
    for row, tree in zip(words, trees):
        n = len(tree.leaves())
        np.testing.assert_array_equal(row[:n], vocab.lookup(tree.leaves()))
        assert not row[n:].any()


def test_argument_checks():
    with pytest.raises(ValueError, match="model"):
        build_tree_classifier(10, 5, model="lstm")
    with pytest.raises(ValueError, match="embedding_dim == units"):
        build_tree_classifier(10, 5, model="rntn", units=4, embedding_dim=8)
