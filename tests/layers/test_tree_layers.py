"""Tree layers (RecursiveNN, RNTN, binary Tree-LSTM): each against a plain NumPy recursion over
the trees, padding, the static level bound, gradients to every weight in a compiled train step,
and run_layer_test (config, shapes, mixed precision, .keras round trip)."""

import keras
import numpy as np
import pytest

from kerasseq.data.treebank import build_vocabulary, parse_tree, tree_arrays
from kerasseq.layers import RNTN, BinaryTreeLSTM, RecursiveNN
from testing import run_layer_test

UNITS = 4
# Depths 0, 1 and 3, batched together and padded to 12 nodes.
TREES = [parse_tree("(2 e)"),
         parse_tree("(3 (2 a) (4 b))"),
         parse_tree("(1 (2 (2 a) (3 c)) (4 (2 b) (0 (1 d) (2 a))))")]


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _recursive_nn(w, x=None, left=None, right=None):
    if x is not None:
        return x
    return np.tanh(np.concatenate([left, right]) @ w["kernel"] + w["bias"])


def _rntn(w, x=None, left=None, right=None):
    if x is not None:
        return x
    v = np.concatenate([left, right])
    quadratic = np.array([v @ w["tensor"][:, :, k] @ v for k in range(w["bias"].shape[0])])
    return np.tanh(quadratic + v @ w["kernel"] + w["bias"])


def _tree_lstm(w, x=None, left=None, right=None):
    """Tai et al.'s N-ary Tree-LSTM, N = 2, one node; states are (c, h) pairs."""
    h = w["bias"].shape[0] // 4
    b_i, b_f, b_o, b_u = np.split(w["bias"], 4)
    if x is not None:  # a leaf: the word vector, zero child states
        z_i, z_o, z_u = np.split(x @ w["kernel"], 3)
        c = _sigmoid(z_i + b_i) * np.tanh(z_u + b_u)
        return c, _sigmoid(z_o + b_o) * np.tanh(c)
    (c_l, h_l), (c_r, h_r) = left, right
    u_l, u_r = w["recurrent_kernel"][:h], w["recurrent_kernel"][h:]
    gate = lambda k: h_l @ u_l[:, k * h:(k + 1) * h] + h_r @ u_r[:, k * h:(k + 1) * h]  # noqa: E731
    i, f_l, f_r = _sigmoid(gate(0) + b_i), _sigmoid(gate(1) + b_f), _sigmoid(gate(2) + b_f)
    o, u = _sigmoid(gate(3) + b_o), np.tanh(gate(4) + b_u)
    c = i * u + f_l * c_l + f_r * c_r
    return c, o * np.tanh(c)


REFERENCES = {RecursiveNN: _recursive_nn, RNTN: _rntn, BinaryTreeLSTM: _tree_lstm}


def _reference(node, step, w, embed, vocab, out):
    """Plain recursion: the node's state; ``out`` collects the nodes' outputs in post-order."""
    if node.is_leaf:
        state = step(w, x=embed[vocab.lookup([node.word])[0]])
    else:
        left = _reference(node.left, step, w, embed, vocab, out)
        right = _reference(node.right, step, w, embed, vocab, out)
        state = step(w, left=left, right=right)
    out.append(state[1] if isinstance(state, tuple) else state)
    return state


@pytest.fixture(scope="module")
def batch():
    vocab = build_vocabulary(TREES)
    arrays = tree_arrays(TREES, vocab, "fine", max_nodes=12)
    embed = np.random.default_rng(0).normal(size=(len(vocab), UNITS)).astype("float32")
    return vocab, arrays, embed


def _inputs(arrays, embed):
    return [embed[arrays["tokens"]], arrays["left"], arrays["right"], arrays["level"]]


@pytest.mark.parametrize("layer_cls", [RecursiveNN, RNTN, BinaryTreeLSTM])
def test_matches_numpy_recursion(layer_cls, batch):
    vocab, arrays, embed = batch
    layer = layer_cls(UNITS)
    layer.build([(None, 12, UNITS), (None, 12), (None, 12), (None, 12)])
    rng = np.random.default_rng(1)
    for weight in layer.weights:  # random biases too, so that every term counts
        weight.assign(rng.normal(scale=0.5, size=weight.shape).astype("float32"))
    w = {weight.name: keras.ops.convert_to_numpy(weight) for weight in layer.weights}
    out = keras.ops.convert_to_numpy(layer(_inputs(arrays, embed)))
    assert out.shape == (3, 12, UNITS)
    for b, tree in enumerate(TREES):
        expected = []
        _reference(tree, REFERENCES[layer_cls], w, embed, vocab, expected)
        np.testing.assert_allclose(out[b, :len(tree)], np.stack(expected), atol=1e-5)
    np.testing.assert_array_equal(out[~arrays["node_mask"]], 0.0)  # padding

    # The static bound: 3 levels are exact for this batch; with 2 the level-3 root stays 0.
    exact = layer_cls.from_config({**layer.get_config(), "max_level": 3})
    exact.build([(None, 12, UNITS), (None, 12), (None, 12), (None, 12)])
    exact.set_weights(layer.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(exact(_inputs(arrays, embed))), out, atol=1e-6)
    short = layer_cls.from_config({**layer.get_config(), "max_level": 2})
    short.build([(None, 12, UNITS), (None, 12), (None, 12), (None, 12)])
    short.set_weights(layer.get_weights())
    cut = keras.ops.convert_to_numpy(short(_inputs(arrays, embed)))
    low = arrays["level"] <= 2
    np.testing.assert_allclose(cut[low], out[low], atol=1e-6)
    np.testing.assert_array_equal(cut[arrays["level"] == 3], 0.0)


@pytest.mark.parametrize("layer_cls", [RecursiveNN, RNTN, BinaryTreeLSTM])
def test_compiled_train_step_reaches_every_weight_and_round_trips(layer_cls, batch, tmp_path):
    vocab, arrays, _ = batch
    names = ("tokens", "left", "right", "level")
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in names}
    vectors = keras.layers.Embedding(len(vocab), UNITS)(inputs["tokens"])
    states = layer_cls(UNITS)([vectors, inputs["left"], inputs["right"], inputs["level"]])
    model = keras.Model(inputs, keras.layers.Dense(5)(states))
    # XLA on both backends (what "auto" picks on a GPU); run_layer_test's fit covers
    # TensorFlow's plain tf.function, with the node count known.
    model.compile(optimizer=keras.optimizers.SGD(0.5), jit_compile=True,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1))
    x = {name: arrays[name] for name in names}
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    model.fit(x, arrays["labels"], batch_size=3, epochs=1, verbose=0)
    for weight, old in zip(model.trainable_weights, before):
        assert not np.allclose(keras.ops.convert_to_numpy(weight), old, atol=1e-7), weight.path

    path = tmp_path / "tree.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[-2]) is layer_cls
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-6)


@pytest.mark.parametrize("layer_cls, weights", [(RecursiveNN, 2), (RNTN, 3), (BinaryTreeLSTM, 3)])
def test_run_layer_test(layer_cls, weights, batch, tmp_path):
    _, arrays, embed = batch
    run_layer_test(layer_cls, {"units": UNITS}, _inputs(arrays, embed),
                   expected_output_shape=(3, 12, UNITS), expected_num_trainable_weights=weights,
                   tmp_path=tmp_path)


def test_constructor_checks():
    with pytest.raises(ValueError, match="units"):
        RecursiveNN(0)
    with pytest.raises(ValueError, match="max_level"):
        RNTN(4, max_level=0)
    with pytest.raises(ValueError, match="leaf vector size 3, units=4"):
        RecursiveNN(4).build([(None, 5, 3), (None, 5), (None, 5), (None, 5)])
