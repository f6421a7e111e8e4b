"""Sentiment classifiers over parse trees (SST): recursive networks and a sequential baseline.

A batch of trees comes as the padded post-order node arrays of
:func:`kerasseq.data.treebank.tree_arrays` (``tokens``, ``left``, ``right``, ``level``,
``root``, ``node_mask``; all six are model inputs, so a batch of the treebank dataset feeds
any of these models as it is).

- ``treelstm``, ``rntn``, ``rnn``: word embeddings at the leaves, a tree layer of
  :mod:`kerasseq.layers.tree` composing them bottom-up, dropout, and one shared softmax
  classifier at *every* node: logits ``(batch, nodes, classes)`` (Socher et al. 2013; Tai et
  al. 2015). :func:`gather_root` picks the sentence's (root's) logits.
- ``bilstm``: the sequential baseline of Tai et al. 2015: a bidirectional LSTM over the
  sentence's words (the leaves, which post-order visits left to right), its two final states
  -> dropout -> softmax: logits ``(batch, classes)`` of the whole sentence only.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.layers.tree import RNTN, BinaryTreeLSTM, RecursiveNN

TREE_LAYERS = {"treelstm": BinaryTreeLSTM, "rntn": RNTN, "rnn": RecursiveNN}
TREE_MODELS = (*TREE_LAYERS, "bilstm")
# The papers' sizes (units, embedding_dim). Tai et al. 2015: memory 150 with 300-d GloVe
# vectors (here learned from scratch: no pretrained vectors offline); Socher et al. 2013:
# d = 25 for the RNTN and the RNN, whose word vectors are their leaf states (so of size d).
DEFAULT_SIZES = {"treelstm": (150, 300), "bilstm": (150, 300), "rntn": (25, 25), "rnn": (25, 25)}
INPUT_NAMES = ("tokens", "left", "right", "level", "root", "node_mask")


def tree_inputs() -> dict:
    """The ``keras.Input`` of each node array (batch and node axes of any size)."""
    inputs = {name: keras.Input((None,), dtype="int32", name=name)
              for name in ("tokens", "left", "right", "level")}
    inputs["root"] = keras.Input((), dtype="int32", name="root")
    inputs["node_mask"] = keras.Input((None,), dtype="bool", name="node_mask")
    return inputs


@keras.saving.register_keras_serializable(package="kerasseq")
class LeafTokens(keras.layers.Layer):
    """The leaves' tokens of post-order node arrays, in sentence order, moved to the front.

    Post-order visits the leaves left to right, so sorting the nodes by (is a leaf first,
    position) keeps the words in order: ``tokens (batch, nodes)``, ``level (batch, nodes)``
    -> ``(batch, nodes)`` the words then zeros (padding id 0; internal nodes hold 0 too).
    """

    def call(self, inputs):
        tokens, level = inputs
        index = ops.expand_dims(ops.arange(ops.shape(tokens)[1], dtype="int32"), 0)  # (1, nodes)
        key = ops.where(level == 0, index, index + ops.shape(tokens)[1])  # (batch, nodes)
        order = ops.argsort(key, axis=-1)
        return ops.take_along_axis(tokens, order, axis=-1)  # (batch, nodes)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def gather_root(logits, root):
    """The root node's logits: ``(batch, nodes, classes)`` and ``root (batch,)`` ->
    ``(batch, classes)``."""
    index = ops.reshape(ops.cast(root, "int32"), (-1, 1, 1))  # (batch, 1, 1)
    return ops.take_along_axis(logits, index, axis=1)[:, 0]


def build_tree_classifier(vocab_size: int, num_classes: int, *, model: str = "treelstm",
                          embedding_dim: int | None = None, units: int | None = None,
                          dropout: float = 0.5, name: str | None = None) -> keras.Model:
    """A sentiment classifier over binary parse trees.

    Args:
        vocab_size: word ids (0 is padding, 1 unknown: :func:`kerasseq.data.treebank.build_vocabulary`).
        num_classes: 5 (fine-grained) or 2 (binary).
        model: ``"treelstm"`` (binary Tree-LSTM), ``"rntn"``, ``"rnn"`` (recursive NN) or
            ``"bilstm"`` (sequential baseline over the leaves).
        embedding_dim: word vector size; ``None``: :data:`DEFAULT_SIZES`. The RNTN and RNN
            need ``embedding_dim == units`` (a leaf's state is its word vector).
        units: tree layer state size (the BiLSTM's per direction); ``None``: the paper's.
        dropout: on the states before the classifier.
        name: the model's name (default ``"{model}_sentiment"``).

    Returns:
        A ``keras.Model`` taking the dict of :func:`tree_inputs`; tree models return logits
        ``(batch, nodes, num_classes)`` (zero states at padding), ``bilstm`` ``(batch,
        num_classes)``.
    """
    if model not in TREE_MODELS:
        raise ValueError(f"Expected model to be one of {TREE_MODELS}. Received: model={model!r}")
    default_units, default_dim = DEFAULT_SIZES[model]
    units = units or default_units
    embedding_dim = embedding_dim or (units if model in ("rntn", "rnn") else default_dim)
    if model in ("rntn", "rnn") and embedding_dim != units:
        raise ValueError(f"Expected embedding_dim == units for model={model!r} (its leaf states are "
                         f"the word vectors). Received: embedding_dim={embedding_dim}, units={units}")
    if not 0 <= dropout < 1:
        raise ValueError(f"Expected dropout in [0, 1). Received: dropout={dropout}")
    inputs = tree_inputs()
    embedding = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=model == "bilstm",
                                       name="embedding")
    if model == "bilstm":
        words = LeafTokens(name="leaf_tokens")([inputs["tokens"], inputs["level"]])  # (batch, nodes)
        states = keras.layers.Bidirectional(keras.layers.LSTM(units), name="bilstm")(embedding(words))
    else:
        vectors = embedding(inputs["tokens"])  # (batch, nodes, embedding_dim)
        states = TREE_LAYERS[model](units, name=model)(
            [vectors, inputs["left"], inputs["right"], inputs["level"]])  # (batch, nodes, units)
    states = keras.layers.Dropout(dropout, name="dropout")(states)
    logits = keras.layers.Dense(num_classes, name="classifier")(states)
    return keras.Model(inputs, logits, name=name or f"{model}_sentiment")
