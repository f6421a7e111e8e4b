"""A bracketed SST tree string -> the node arrays of :func:`kerasseq.data.treebank.tree_arrays`,
in TensorFlow ops only, so an exported SavedModel can read ``(3 (2 It) (4 ...))`` itself.

No recursion and no loop: with the tokens ``(``, ``)``, labels and words,

- post-order is the order of the closing brackets (a node closes after its children);
- an opening bracket's match is found by sorting opening and closing brackets by (depth,
  position): at one depth they alternate, so the k-th of each match;
- a node's left child opens two tokens after it, its right child closes just before it (so
  is the previous node in post-order);
- its level (height) is the deepest leaf of its subtree minus its own depth, the subtree
  being the contiguous post-order range that ends at the node.
"""

from __future__ import annotations


def tf_tree_arrays(tree, lookup):
    """Node arrays of one tree, as :func:`kerasseq.data.treebank.tree_arrays` makes them.

    Args:
        tree: a scalar string tensor, one well-formed binary tree of the treebank's form
            (tokens separated by ASCII spaces; not checked: parse untrusted input with
            :func:`kerasseq.data.treebank.parse_tree` first).
        lookup: ``string tensor -> int32 ids`` of words (unknown words -> 1).

    Returns:
        A dict of ``(1, nodes)`` int32 ``tokens``, ``left``, ``right``, ``level``, treebank
        ``labels`` (0-4, before any setting), bool ``node_mask``, and ``(1,)`` ``root``.
    """
    import tensorflow as tf

    spaced = tf.strings.regex_replace(tf.strings.regex_replace(tree, r"\(", " ( "), r"\)", " ) ")
    tokens = tf.strings.split(spaced, sep=" ")
    tokens = tf.boolean_mask(tokens, tf.strings.length(tokens) > 0)  # (L,)
    is_open, is_close = tf.equal(tokens, "("), tf.equal(tokens, ")")
    depth = tf.cumsum(tf.cast(is_open, tf.int32) - tf.cast(is_close, tf.int32))  # after each token
    opens = tf.cast(tf.where(is_open)[:, 0], tf.int32)  # (n,) positions, in opening order
    closes = tf.cast(tf.where(is_close)[:, 0], tf.int32)  # (n,) positions, in post-order
    n, length = tf.shape(opens)[0], tf.shape(tokens)[0]
    open_depth = tf.gather(depth, opens)  # (n,) the node's depth (root 1)
    # Match brackets: the k-th opening and the k-th closing bracket in (depth, position) order.
    open_order = tf.argsort(open_depth * length + opens)
    close_order = tf.argsort((tf.gather(depth, closes) + 1) * length + closes)
    node_of_open = tf.scatter_nd(open_order[:, None], close_order, [n])  # open rank -> post index
    label = tf.strings.to_number(tf.gather(tokens, opens + 1), tf.int32)
    after_label = tf.minimum(opens + 2, length - 1)  # a leaf's word or the left child's "("
    third = tf.gather(tokens, after_label)
    leaf = tf.not_equal(third, "(")
    open_rank = tf.cumsum(tf.cast(is_open, tf.int32)) - 1  # rank of the bracket at a position
    left_child = tf.where(leaf, -1, tf.gather(node_of_open, tf.gather(open_rank, after_label)))
    right_child = tf.where(leaf, -1, node_of_open - 1)
    word_ids = tf.where(leaf, lookup(third), 0)
    # Subtree size = opening brackets between the node's two brackets; heights from leaf depths.
    size = tf.gather(open_rank, tf.gather(closes, node_of_open)) - tf.range(n) + 1
    post = lambda values: tf.scatter_nd(node_of_open[:, None], values, [n])  # open order -> post
    tokens_p, left_p, right_p, label_p = post(word_ids), post(left_child), post(right_child), post(label)
    depth_p, leaf_p, size_p = post(open_depth), post(tf.cast(leaf, tf.int32)), post(size)
    index = tf.range(n)
    inside = (index[None, :] <= index[:, None]) & (index[None, :] > index[:, None] - size_p[:, None])
    leaf_depth = tf.where(inside & (leaf_p[None, :] > 0), depth_p[None, :], 0)  # (n, n)
    level = tf.reduce_max(leaf_depth, axis=1) - depth_p
    arrays = {"tokens": tokens_p, "left": left_p, "right": right_p, "level": level, "labels": label_p,
              "node_mask": tf.ones([n], tf.bool)}
    arrays = {k: v[None] for k, v in arrays.items()}
    arrays["root"] = tf.reshape(n - 1, [1])
    return arrays
