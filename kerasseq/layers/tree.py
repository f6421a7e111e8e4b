"""Recursive networks over binary parse trees: RecursiveNN, RNTN and the binary Tree-LSTM.

A batch of trees comes as padded node arrays, the nodes of each tree in post-order
(:func:`kerasseq.data.treebank.tree_arrays`): ``left``, ``right`` (B, N) the children's
indices (-1 at leaves and padding) and ``level`` (B, N) the node's height (0 at leaves,
``1 + max(children's levels)`` above, -1 at padding). All nodes of one level depend only on
lower levels, so :func:`evaluate_tree_levels` computes the whole batch one level at a time:
at level l it gathers every node's children's states, composes them for all nodes at once and
keeps the result where ``level == l``. This is the dynamic batching of TensorFlow Fold (Looks
et al. 2017) on fixed-shape arrays: no Python recursion, one compiled step for any trees of
the batch's shape, on TensorFlow and JAX.

The loop runs over levels 1 .. min(batch depth, bound), ``bound`` static: ``max_level`` if
given, else ``(N - 1) // 2`` from the node axis, the height of the tallest binary tree of N
nodes. A static bound is what makes the loop differentiable in a compiled step: TensorFlow
differentiates a ``while_loop`` under XLA only with ``maximum_iterations``, and JAX
differentiates a loop only when its length is static (``fori_loop`` with Python bounds, a
``scan``); on JAX the levels above the batch's depth are skipped by a ``cond``.
"""

from __future__ import annotations

import keras
from keras import ops


def _loop_levels(body, states, depth, bound):
    """``states`` after ``body(l, states)`` for l = 1 .. min(depth, bound).

    TensorFlow: a ``while_loop`` that stops at ``depth`` with ``maximum_iterations=bound``
    (XLA needs it to differentiate). JAX: a ``fori_loop`` of static length ``bound`` (a
    ``scan``, reverse-differentiable; a ``while_loop`` is not) whose steps above ``depth`` are
    a ``cond`` that returns the states unchanged.
    """
    if keras.backend.backend() == "jax":
        return ops.fori_loop(
            1, bound + 1, lambda l, s: ops.cond(l <= depth, lambda: body(l, s), lambda: s), states)
    return ops.while_loop(lambda l, s: l <= depth, lambda l, s: (l + 1, body(l, s)),
                          (ops.convert_to_tensor(1, "int32"), states), maximum_iterations=bound)[1]


def evaluate_tree_levels(leaf_states, left, right, level, compose, max_level=None):
    """The state of every node of a batch of trees, computed one level at a time.

    Args:
        leaf_states: ``(batch, nodes, state)`` the state each node would have as a leaf
            (used where ``level == 0``).
        left, right: ``(batch, nodes)`` int the children's indices in the node axis,
            -1 at leaves and padding.
        level: ``(batch, nodes)`` int, 0 at leaves, ``1 + max(children's)`` above, -1 at
            padding. A child's index must be that of a node of lower level (post-order).
        compose: ``(left_states, right_states) -> states``, each ``(batch, nodes, state)``:
            a parent's state from its children's, for all nodes at once.
        max_level: static bound on the levels evaluated; ``None``: ``(nodes - 1) // 2``, the
            height of the tallest binary tree of ``nodes`` nodes. Nodes above it stay zero.

    Returns:
        ``(batch, nodes, state)``: the leaf state at leaves, the composed state at internal
        nodes, zeros at padding.
    """
    level = ops.cast(level, "int32")
    batch, nodes = ops.shape(level)[0], ops.shape(level)[1]
    bound = max_level if max_level is not None else (nodes - 1) // 2
    # The children's rows in the flattened (batch * nodes, state) states; -1 -> the node 0 of
    # its own tree (any row would do: those nodes are leaves or padding and keep their state).
    offsets = ops.expand_dims(ops.arange(batch, dtype="int32") * nodes, 1)  # (batch, 1)
    left_rows = ops.maximum(ops.cast(left, "int32"), 0) + offsets  # (batch, nodes)
    right_rows = ops.maximum(ops.cast(right, "int32"), 0) + offsets  # (batch, nodes)
    states = ops.where(ops.expand_dims(level == 0, -1), leaf_states, ops.zeros_like(leaf_states))

    def step(current, states):
        flat = ops.reshape(states, (-1, ops.shape(states)[-1]))  # (batch * nodes, state)
        composed = compose(ops.take(flat, left_rows, axis=0), ops.take(flat, right_rows, axis=0))
        return ops.where(ops.expand_dims(level == current, -1), composed, states)

    return _loop_levels(step, states, ops.max(level), bound)


class _TreeLayer(keras.layers.Layer):
    """Arguments, inputs and config shared by the tree layers.

    A subclass creates its weights in ``build``, and defines ``_leaf_states(x)`` (the state
    of every node as a leaf, from its input vector), ``_compose(left, right)`` (a parent's
    state from its children's) and ``_hidden(states)`` (the output part of a state).
    """

    def __init__(self, units, *, max_level=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"Expected `units` to be a positive integer. Received: units={units!r}")
        if max_level is not None and (isinstance(max_level, bool) or not isinstance(max_level, int)
                                      or max_level < 1):
            raise ValueError("Expected `max_level` to be None or a positive integer. "
                             f"Received: max_level={max_level!r}")
        super().__init__(**kwargs)
        self.units = units
        self.max_level = max_level
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def _check_inputs(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 4:
            raise ValueError("Expected inputs [leaf_vectors, left, right, level]. "
                             f"Received: input_shape={input_shape}")
        return input_shape[0][-1]

    def _bias(self, size, initializer=None):
        return self.add_weight(shape=(size,), name="bias", regularizer=self.bias_regularizer,
                               initializer=initializer or self.bias_initializer)

    def call(self, inputs):
        leaf_vectors, left, right, level = inputs
        states = evaluate_tree_levels(self._leaf_states(leaf_vectors), left, right, level,
                                      self._compose, self.max_level)
        return self._hidden(states)

    def _hidden(self, states):
        return states

    def compute_output_shape(self, input_shape):
        self._check_inputs(input_shape)
        return (*input_shape[0][:-1], self.units)

    def compute_mask(self, inputs, mask=None):
        return None  # padding is level -1; the loss takes it from the labels (-1)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "max_level": self.max_level,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
        }


@keras.saving.register_keras_serializable(package="kerasseq")
class RecursiveNN(_TreeLayer):
    """Recursive neural network over binary trees (Socher et al. 2011).

    A leaf's state is its input vector; a parent composes its children's states with one
    shared matrix:

        h = tanh(W [h_l; h_r] + b)

    Weights: ``kernel`` ``(2 units, units)`` = W, ``bias`` ``(units,)`` = b.

    Inputs: ``[leaf_vectors, left, right, level]``: ``(batch, nodes, units)`` float vectors
    (read at leaves only: a word embedding of ``tokens``) and the ``(batch, nodes)`` int
    arrays of :func:`kerasseq.data.treebank.tree_arrays` (post-order; -1 at padding).
    Output: ``(batch, nodes, units)``, the state of every node, zeros at padding.

    Args:
        units: size of the states; the leaf vectors must have this size.
        max_level: static bound on the levels evaluated (see :func:`evaluate_tree_levels`);
            ``None``: ``(nodes - 1) // 2``, enough for any tree of ``nodes`` nodes.
        activation: the nonlinearity (tanh in the paper).
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer: as for ``keras.layers.Dense``.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:
    >>> x = kerasseq.data.treebank.tree_arrays(trees, vocab, "fine")
    >>> vectors = keras.layers.Embedding(len(vocab), 25)(x["tokens"])
    >>> states = RecursiveNN(25)([vectors, x["left"], x["right"], x["level"]])  # (B, N, 25)

    References:
        Socher, Lin, Ng & Manning 2011, "Parsing natural scenes and natural language with
        recursive neural networks"; Socher et al. 2013, "Recursive deep models for semantic
        compositionality over a sentiment treebank" (the RNN baseline).
    """

    def __init__(self, units, *, activation="tanh", **kwargs):
        super().__init__(units, **kwargs)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        dim = self._check_inputs(input_shape)
        if dim != self.units:
            raise ValueError("Expected leaf vectors of size units (a leaf's state is its vector). "
                             f"Received: leaf vector size {dim}, units={self.units}")
        self.kernel = self.add_weight(shape=(2 * self.units, self.units), name="kernel",
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = self._bias(self.units) if self.use_bias else None

    def _leaf_states(self, x):
        return x

    def _compose(self, left, right):
        z = ops.matmul(ops.concatenate([left, right], axis=-1), self.kernel)  # (batch, nodes, units)
        return self.activation(z + self.bias if self.use_bias else z)

    def get_config(self):
        return {**super().get_config(), "activation": keras.activations.serialize(self.activation)}


@keras.saving.register_keras_serializable(package="kerasseq")
class RNTN(_TreeLayer):
    """Recursive neural tensor network (Socher et al. 2013, eq. 2).

    A leaf's state is its input vector; with x = [h_l; h_r] (size 2d), a parent's state is

        h_k = tanh(x^T V^[k] x + (W x + b)_k),   k = 1 .. d

    the tensor V^[1:d] letting the two children multiply each other's features.

    Weights: ``tensor`` ``(2 units, 2 units, units)`` (``tensor[:, :, k]`` = V^[k]),
    ``kernel`` ``(2 units, units)`` = W, ``bias`` ``(units,)`` = b.

    Inputs and output as :class:`RecursiveNN`: ``[leaf_vectors (batch, nodes, units), left,
    right, level]`` -> ``(batch, nodes, units)``, zeros at padding.

    Args:
        units: size of the states (d); the leaf vectors must have this size.
        max_level: static bound on the levels evaluated (see :func:`evaluate_tree_levels`).
        activation: the nonlinearity (tanh in the paper).
        tensor_initializer, tensor_regularizer: of V.
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer: as for ``keras.layers.Dense``.
        **kwargs: base layer arguments.

    Example:
    >>> states = RNTN(25)([vectors, x["left"], x["right"], x["level"]])  # (B, N, 25)

    References:
        Socher et al. 2013, "Recursive deep models for semantic compositionality over a
        sentiment treebank".
    """

    def __init__(self, units, *, activation="tanh", tensor_initializer="glorot_uniform",
                 tensor_regularizer=None, **kwargs):
        super().__init__(units, **kwargs)
        self.activation = keras.activations.get(activation)
        self.tensor_initializer = keras.initializers.get(tensor_initializer)
        self.tensor_regularizer = keras.regularizers.get(tensor_regularizer)

    def build(self, input_shape):
        dim = self._check_inputs(input_shape)
        if dim != self.units:
            raise ValueError("Expected leaf vectors of size units (a leaf's state is its vector). "
                             f"Received: leaf vector size {dim}, units={self.units}")
        d = self.units
        self.tensor = self.add_weight(shape=(2 * d, 2 * d, d), name="tensor",
                                      initializer=self.tensor_initializer,
                                      regularizer=self.tensor_regularizer)
        self.kernel = self.add_weight(shape=(2 * d, d), name="kernel",
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = self._bias(d) if self.use_bias else None

    def _leaf_states(self, x):
        return x

    def _compose(self, left, right):
        d = self.units
        x = ops.concatenate([left, right], axis=-1)  # (batch, nodes, 2d)
        # x^T V^[k] x for every k: (x V) reshaped to (..., 2d, d), then contracted with x.
        xv = ops.matmul(x, ops.reshape(self.tensor, (2 * d, 2 * d * d)))  # (batch, nodes, 2d * d)
        xv = ops.reshape(xv, (*ops.shape(x)[:-1], 2 * d, d))  # (batch, nodes, 2d, d)
        z = ops.einsum("bnjk,bnj->bnk", xv, x) + ops.matmul(x, self.kernel)  # (batch, nodes, d)
        return self.activation(z + self.bias if self.use_bias else z)

    def get_config(self):
        return {
            **super().get_config(),
            "activation": keras.activations.serialize(self.activation),
            "tensor_initializer": keras.initializers.serialize(self.tensor_initializer),
            "tensor_regularizer": keras.regularizers.serialize(self.tensor_regularizer),
        }


@keras.saving.register_keras_serializable(package="kerasseq")
class BinaryTreeLSTM(_TreeLayer):
    """Binary (constituency) Tree-LSTM: the N-ary Tree-LSTM of Tai et al. 2015 (§3.2), N = 2.

    Each child k in {l, r} has its own forget gate, and every gate sees both children's
    hidden states through separate matrices:

        i   = σ(W_i x + U_i^l h_l + U_i^r h_r + b_i)
        f_k = σ(W_f x + U_f^{kl} h_l + U_f^{kr} h_r + b_f),   k = l, r
        o   = σ(W_o x + U_o^l h_l + U_o^r h_r + b_o)
        u   = tanh(W_u x + U_u^l h_l + U_u^r h_r + b_u)
        c   = i ⊙ u + f_l ⊙ c_l + f_r ⊙ c_r
        h   = o ⊙ tanh(c)

    As in Tai et al.'s constituency model, words enter at the leaves only: a leaf applies
    these equations to its word vector x with zero child states (c = i ⊙ u), an internal node
    to its children with x = 0. So W_f never acts and there is none.

    Weights: ``kernel`` ``(input_dim, 3 units)`` = [W_i, W_o, W_u], ``recurrent_kernel``
    ``(2 units, 5 units)`` = [U_i, U_f^{l·}, U_f^{r·}, U_o, U_u] acting on [h_l; h_r],
    ``bias`` ``(4 units,)`` = [b_i, b_f, b_o, b_u].

    Inputs: ``[leaf_vectors (batch, nodes, input_dim), left, right, level]`` (the arrays of
    :func:`kerasseq.data.treebank.tree_arrays`). Output: ``(batch, nodes, units)`` the hidden
    state h of every node, zeros at padding.

    Args:
        units: size of the hidden and memory states.
        max_level: static bound on the levels evaluated (see :func:`evaluate_tree_levels`).
        unit_forget_bias: start b_f at 1 (as ``keras.layers.LSTM``).
        recurrent_initializer, recurrent_regularizer: of the U matrices.
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer: as for ``keras.layers.LSTM``.
        **kwargs: base layer arguments.

    Example:
    >>> vectors = keras.layers.Embedding(len(vocab), 300)(x["tokens"])
    >>> states = BinaryTreeLSTM(150)([vectors, x["left"], x["right"], x["level"]])

    References:
        Tai, Socher & Manning 2015, "Improved semantic representations from tree-structured
        long short-term memory networks".
    """

    def __init__(self, units, *, unit_forget_bias=True, recurrent_initializer="orthogonal",
                 recurrent_regularizer=None, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)

    def build(self, input_shape):
        dim, h = self._check_inputs(input_shape), self.units
        self.kernel = self.add_weight(shape=(dim, 3 * h), name="kernel",
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight(shape=(2 * h, 5 * h), name="recurrent_kernel",
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer)
        self.bias = None
        if self.use_bias:
            initializer = self.bias_initializer
            if self.unit_forget_bias:
                def initializer(shape, dtype=None):
                    blocks = [self.bias_initializer((h,), dtype=dtype) for _ in range(4)]
                    blocks[1] = ops.ones((h,), dtype=dtype)
                    return ops.concatenate(blocks)
            self.bias = self._bias(4 * h, initializer)

    def _biases(self):
        """(b_i, b_f, b_o, b_u), or zeros without a bias."""
        return ops.split(self.bias, 4) if self.use_bias else (0.0,) * 4

    def _leaf_states(self, x):
        b_i, _, b_o, b_u = self._biases()
        z_i, z_o, z_u = ops.split(ops.matmul(x, self.kernel), 3, axis=-1)  # (batch, nodes, units)
        c = ops.sigmoid(z_i + b_i) * ops.tanh(z_u + b_u)
        h = ops.sigmoid(z_o + b_o) * ops.tanh(c)
        return ops.concatenate([c, h], axis=-1)  # the state is [c; h]: (batch, nodes, 2 units)

    def _compose(self, left, right):
        c_l, h_l = ops.split(left, 2, axis=-1)
        c_r, h_r = ops.split(right, 2, axis=-1)
        z = ops.matmul(ops.concatenate([h_l, h_r], axis=-1), self.recurrent_kernel)  # (.., 5 units)
        z_i, z_fl, z_fr, z_o, z_u = ops.split(z, 5, axis=-1)
        b_i, b_f, b_o, b_u = self._biases()
        c = (ops.sigmoid(z_i + b_i) * ops.tanh(z_u + b_u)
             + ops.sigmoid(z_fl + b_f) * c_l + ops.sigmoid(z_fr + b_f) * c_r)
        h = ops.sigmoid(z_o + b_o) * ops.tanh(c)
        return ops.concatenate([c, h], axis=-1)

    def _hidden(self, states):
        return states[..., self.units:]

    def get_config(self):
        return {
            **super().get_config(),
            "unit_forget_bias": self.unit_forget_bias,
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "recurrent_regularizer": keras.regularizers.serialize(self.recurrent_regularizer),
        }
