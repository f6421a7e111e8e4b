"""Stanford Sentiment Treebank (Socher et al. 2013): PTB trees, label settings, node arrays.

Each line of ``sst/{train,dev,test}.txt`` is one binarised parse tree with a sentiment label
0-4 (very negative .. very positive) at every node, ``(3 (2 It) (4 (2 's) ...))``. Tokens are
separated by ASCII spaces only: a few tokens hold a no-break space (``2\\xa01\\/2``), which
stays part of the token.

Two settings (Socher et al. 2013; Tai et al. 2015):

- ``fine``: the 5 labels at every node.
- ``binary``: 0, 1 -> 0 (negative) and 3, 4 -> 1 (positive); neutral nodes (2) are not
  supervised, and sentences whose root is neutral are dropped (6,920 / 872 / 1,821 trees).

For batching, :func:`tree_arrays` lays every tree out as padded node arrays in post-order
(children before parents, the root last), with each node's *level* (0 at leaves, one more than
its higher child above): the layers of :mod:`kerasseq.layers.tree` evaluate all nodes of one
level of every tree at once, the dynamic batching of TensorFlow Fold (Looks et al. 2017)
without Python recursion in the compiled step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasseq.data.buckets import BucketedBatches
from kerasseq.data.epochs import epoch_dataset
from kerasseq.data.files import dataset_file
from kerasseq.data.text import WordVocabulary
from kerasseq.errors import DataError

SPLITS = ("train", "dev", "test")
NUM_LABELS = 5  # the treebank's labels 0-4
# Setting -> number of classes.
SETTINGS = {"fine": 5, "binary": 2}
# Label -> class of the binary setting; -1: not supervised (neutral).
BINARY_CLASSES = np.array([0, 0, -1, 1, 1], np.int32)
# Padded node counts of a batch (a tree of n words has 2n - 1 nodes; SST's longest has 56 words).
NODE_BUCKETS = (16, 32, 64, 128)

_TOKENS = re.compile(r"\(|\)|[^ ()]+")  # ASCII spaces only: a no-break space stays in its token
_LABELS = {str(label): label for label in range(NUM_LABELS)}


@dataclass(eq=True, slots=True)
class Tree:
    """A binary parse tree: a leaf (``word``) or a node with two children.

    Args:
        label: the sentiment label, 0-4.
        word: the token of a leaf; ``None`` at internal nodes.
        left, right: the children of an internal node; ``None`` at leaves.
    """

    label: int
    word: str | None = None
    left: "Tree | None" = None
    right: "Tree | None" = None

    @property
    def is_leaf(self) -> bool:
        return self.word is not None

    def post_order(self) -> list["Tree"]:
        """The nodes, children before parents (left subtree, right subtree, node)."""
        order, stack = [], [(self, False)]
        while stack:  # no recursion: trees can be deeper than a comfortable Python stack
            node, expanded = stack.pop()
            if node.is_leaf or expanded:
                order.append(node)
            else:
                stack += [(node, True), (node.right, False), (node.left, False)]
        return order

    def leaves(self) -> list[str]:
        """The words, left to right."""
        return [node.word for node in self.post_order() if node.is_leaf]

    def __len__(self) -> int:
        """Number of nodes."""
        return len(self.post_order())


def parse_tree(line: str, source: str = "<string>", line_number: int = 1) -> Tree:
    """Parse one PTB bracketed tree, ``(3 (2 It) (4 ...))``.

    Every node is ``(label word)`` or ``(label left right)``; labels are integers 0-4.

    Args:
        line: the tree, optionally ending in ``"\\n"``.
        source, line_number: where the line comes from, for error messages.

    Raises:
        DataError: naming ``source`` and ``line_number``: unbalanced brackets, a label that
            is not an integer in 0-4, a node with 1 or 3+ children, a leaf with several words,
            or text outside the tree.
    """

    def fail(what):
        shown = line if len(line) <= 80 else line[:77] + "..."
        raise DataError(f"{source}, line {line_number}: {what}: {shown.rstrip()!r}")

    tokens = _TOKENS.findall(line.rstrip("\n"))
    if not tokens:
        fail("empty line, expected a tree")
    stack: list[tuple[int, list, list]] = []  # (label, words, subtrees) of the open nodes
    root = None
    i, count = 0, len(tokens)
    while i < count:
        token = tokens[i]
        if root is not None:
            fail("text after the end of the tree (unbalanced brackets)")
        if token == "(":
            label = _LABELS.get(tokens[i + 1] if i + 1 < count else "")
            if label is None:
                text = tokens[i + 1] if i + 1 < count else ""
                fail(f"label {text} is outside 0-{NUM_LABELS - 1}" if re.fullmatch(r"-?[0-9]+", text)
                     else f"label {text!r} is not an integer")
            stack.append((label, [], []))
            i += 2
            continue
        if not stack:
            fail("unbalanced brackets: a ')' closes nothing" if token == ")" else "text outside the tree")
        i += 1
        if token != ")":
            stack[-1][1].append(token)
            continue
        label, words, children = stack.pop()
        if len(words) == 1 and not children:
            node = Tree(label, words[0])
        elif len(children) == 2 and not words:
            node = Tree(label, None, children[0], children[1])
        elif words and children:
            fail("a node with both a word and children")
        elif words:
            fail(f"a leaf with {len(words)} words (tokens are separated by spaces)")
        else:
            fail(f"a node with {len(children)} {'child' if len(children) == 1 else 'children'}; "
                 "every node must be a leaf or have two children")
        if stack:
            stack[-1][2].append(node)
        else:
            root = node
    if stack:
        fail(f"unbalanced brackets: {len(stack)} '(' left open")
    return root


def read_trees(path) -> list[Tree]:
    """The trees of a file, one per line (UTF-8; only ``"\\n"`` ends a line).

    Raises:
        DataError: a malformed line, naming the file and line number.
    """
    text = Path(path).read_text(encoding="utf-8")
    lines = text.removesuffix("\n").split("\n") if text else []
    return [parse_tree(line, str(path), number) for number, line in enumerate(lines, 1)]


def load_sst(split: str, data_dir=None, *, setting: str = "fine", download: bool = False) -> list[Tree]:
    """The trees of one split of the Stanford Sentiment Treebank, in file order.

    Args:
        split: ``"train"``, ``"dev"`` or ``"test"`` (8,544 / 1,101 / 2,210 trees).
        data_dir: the data directory; defaults to ``$KERASSEQ_DATA_DIR``.
        setting: ``"fine"`` keeps every tree; ``"binary"`` drops those with a neutral root
            (:func:`setting_trees`).
        download: fetch a missing file from the source.

    Raises:
        DataError: the file is missing, corrupt or malformed.
    """
    if split not in SPLITS:
        raise ValueError(f"Expected split to be one of {SPLITS}. Received: split={split!r}")
    return setting_trees(read_trees(dataset_file(f"sst/{split}.txt", data_dir, download)), setting)


def _check_setting(setting):
    if setting not in SETTINGS:
        raise ValueError(f"Expected setting to be one of {tuple(SETTINGS)}. Received: setting={setting!r}")


def setting_labels(labels, setting: str) -> np.ndarray:
    """The classes of treebank labels 0-4 in ``setting`` (int32; -1 where not supervised:
    neutral in the binary setting). Negative inputs (padding) stay -1."""
    _check_setting(setting)
    labels = np.asarray(labels, np.int32)
    classes = labels if setting == "fine" else BINARY_CLASSES[np.clip(labels, 0, NUM_LABELS - 1)]
    return np.where(labels < 0, -1, classes).astype(np.int32)


def setting_trees(trees, setting: str) -> list[Tree]:
    """The trees of ``setting``: all for ``fine``; for ``binary`` those whose root is not
    neutral (Socher et al. 2013)."""
    _check_setting(setting)
    return list(trees) if setting == "fine" else [t for t in trees if t.label != 2]


def build_vocabulary(trees, min_count: int = 1) -> WordVocabulary:
    """The vocabulary of the leaves of ``trees`` (the training split): id 0 is padding, id 1
    the unknown token ``"[UNK]"``, then the words seen at least ``min_count`` times, most
    frequent first. Words keep their case."""
    return WordVocabulary.from_sentences((t.leaves() for t in trees), min_count=min_count)


def _tree_rows(tree: Tree, vocab: WordVocabulary, setting: str):
    """``(tokens, left, right, level, labels)`` of one tree's nodes in post-order (int32)."""
    nodes = tree.post_order()
    index = {id(node): i for i, node in enumerate(nodes)}
    n = len(nodes)
    tokens, left, right, level = (np.zeros(n, np.int32), np.full(n, -1, np.int32),
                                  np.full(n, -1, np.int32), np.zeros(n, np.int32))
    for i, node in enumerate(nodes):
        if node.is_leaf:
            tokens[i] = vocab.lookup([node.word])[0]
        else:
            left[i], right[i] = index[id(node.left)], index[id(node.right)]
            level[i] = 1 + max(level[left[i]], level[right[i]])
    labels = setting_labels([node.label for node in nodes], setting)
    return tokens, left, right, level, labels


def _stack_rows(rows, num_nodes: int, batch_size: int | None = None) -> dict[str, np.ndarray]:
    """Pad per-tree rows to ``num_nodes`` nodes (and ``batch_size`` rows with empty trees)."""
    batch = len(rows) if batch_size is None else batch_size
    fill = {"tokens": 0, "left": -1, "right": -1, "level": -1, "labels": -1}
    arrays = {name: np.full((batch, num_nodes), value, np.int32) for name, value in fill.items()}
    root = np.zeros(batch, np.int32)
    for b, row in enumerate(rows):
        n = len(row[0])
        for name, values in zip(fill, row):
            arrays[name][b, :n] = values
        root[b] = n - 1
    arrays["root"] = root
    arrays["node_mask"] = arrays["level"] >= 0
    return arrays


def tree_arrays(trees, vocab: WordVocabulary, setting: str, max_nodes: int | None = None) -> dict[str, np.ndarray]:
    """A batch of trees as padded node arrays, the nodes of each tree in post-order.

    Args:
        trees: the trees (``Tree``).
        vocab: the word vocabulary (:func:`build_vocabulary`); unknown words get id 1.
        setting: ``"fine"`` or ``"binary"`` (labels of :func:`setting_labels`).
        max_nodes: the padded node count N; defaults to the largest tree's node count.

    Returns:
        With B trees and N nodes, int32 unless said otherwise:

        - ``tokens`` (B, N): word id at leaves, 0 at internal nodes and padding;
        - ``left``, ``right`` (B, N): the children's indices (smaller than the node's own),
          -1 at leaves and padding;
        - ``level`` (B, N): 0 at leaves, ``1 + max(level of the children)`` at internal
          nodes, -1 at padding;
        - ``labels`` (B, N): the node's class, -1 where not supervised (padding; neutral
          nodes in the binary setting);
        - ``root`` (B,): index of the root, the tree's last node (node count - 1);
        - ``node_mask`` (B, N) bool: True at the tree's nodes.

    Raises:
        ValueError: a tree has more than ``max_nodes`` nodes.
    """
    _check_setting(setting)
    rows = [_tree_rows(tree, vocab, setting) for tree in trees]
    longest = max((len(r[0]) for r in rows), default=0)
    if max_nodes is None:
        max_nodes = longest
    elif longest > max_nodes:
        raise ValueError(f"Expected trees of at most max_nodes nodes. Received: a tree of {longest} "
                         f"nodes with max_nodes={max_nodes}")
    return _stack_rows(rows, max_nodes)


def treebank_dataset(trees, vocab: WordVocabulary, setting: str, batch_size: int,
                     shuffle: bool, seed: int = 0, first_epoch: int = 0):
    """Batches of ``(inputs, labels)`` for ``model.fit``/``evaluate``: ``inputs`` is the dict
    of :func:`tree_arrays` without ``labels`` (``tokens``, ``left``, ``right``, ``level``,
    ``root``, ``node_mask``), ``labels`` the (B, N) classes, -1 where not supervised.

    Trees are grouped by node count (padded to the first of :data:`NODE_BUCKETS` that holds
    them) and batched within a group, so every batch has one of a few shapes (one XLA
    compilation each) and little padding. With ``shuffle`` (training) the groups' contents and
    the batch order change every epoch and each group's last incomplete batch waits for the
    next epoch; without it every tree is used once, in a fixed order, and an incomplete
    batch is filled with empty trees (all padding: level -1, labels -1, root 0).

    Pass the trees of the setting (:func:`setting_trees`, or ``load_sst(..., setting=)``):
    in the binary setting a neutral root would have label -1.

    Returns:
        A ``tf.data.Dataset`` (TensorFlow imported here), or a ``keras.utils.PyDataset`` of
        the same NumPy batches where TensorFlow is not installed; each iteration is the next
        epoch.
    """
    _check_setting(setting)
    rows = [_tree_rows(tree, vocab, setting) for tree in trees]
    planner = BucketedBatches([len(r[0]) for r in rows], batch_size, shuffle, seed, NODE_BUCKETS)

    def plan(epoch):
        planner._epoch = epoch  # epoch_dataset names the epoch; BucketedBatches counts its own
        return planner.epoch()[1]

    def load(batch):
        num_nodes, index = batch
        arrays = _stack_rows([rows[i] for i in index], num_nodes, batch_size)
        labels = arrays.pop("labels")
        return arrays, labels

    signature = None
    try:
        import tensorflow as tf
    except ModuleNotFoundError:
        pass
    else:
        nodes = tf.TensorSpec((None, None), tf.int32)
        signature = ({"tokens": nodes, "left": nodes, "right": nodes, "level": nodes,
                      "root": tf.TensorSpec((None,), tf.int32),
                      "node_mask": tf.TensorSpec((None, None), tf.bool)}, nodes)
    return epoch_dataset(plan, load, signature, first_epoch)
