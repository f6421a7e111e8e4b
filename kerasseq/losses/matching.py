"""Optimal one-to-one assignment (Hungarian matching) of queries to targets, batched, callable
from inside a compiled training step on any Keras backend."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

# Stands in for non-finite costs so that SciPy never refuses a matrix mid-training (the loss
# itself is then non-finite and says so); large, yet far from float64 overflow when summed.
_LARGE_COST = 1e12


def _assign_on_host(cost, counts):
    """NumPy/SciPy body of :func:`linear_sum_assignment`: ``(B, Q, T), (B,) -> (B, Q)``."""
    from scipy.optimize import linear_sum_assignment as scipy_linear_sum_assignment

    cost = np.nan_to_num(np.asarray(cost, "float64"), nan=_LARGE_COST, posinf=_LARGE_COST, neginf=-_LARGE_COST)
    counts = np.asarray(counts).reshape(-1)
    assignment = np.full(cost.shape[:2], -1, "int32")  # (B, Q)
    for image, count in enumerate(counts):
        count = int(min(max(count, 0), cost.shape[2]))
        if count:
            queries, targets = scipy_linear_sum_assignment(cost[image, :, :count])  # (min(Q, n),) each
            assignment[image, queries] = targets
    return assignment


def linear_sum_assignment(cost, counts):
    """Minimum-cost one-to-one matching of queries to real targets, per image.

    For each image b with n_b = ``counts[b]`` real targets (the first n_b columns of its cost
    matrix; the rest is padding), finds the assignment σ that minimises Σ_j cost[b, σ(j), j]
    over injective maps from targets to queries (Kuhn–Munkres, as DETR's bipartite matching,
    Carion et al. 2020, Eq. 1), computed by :func:`scipy.optimize.linear_sum_assignment` on
    the host. No gradient flows through the matching: the cost is wrapped in
    ``stop_gradient``.

    Works eagerly and inside a compiled step: on JAX through ``jax.pure_callback`` (under
    ``jax.jit``, ``jax.grad`` and ``jax.vmap``); on TensorFlow through ``tf.numpy_function``,
    which runs in a ``tf.function`` graph but **not under XLA** (``jit_compile=True``: XLA
    cannot compile a call back into Python, so compile a model that uses it with
    ``jit_compile=False`` on TensorFlow); on NumPy and torch directly.

    Args:
        cost: float ``(batch, queries, targets)`` cost of assigning each query to each
            (padded) target. Non-finite entries count as a very large cost.
        counts: int ``(batch,)`` number of real targets per image; columns ``>= counts[b]``
            are ignored. An image with no targets leaves every query unmatched.

    Returns:
        int32 ``(batch, queries)``: for each query the index of its matched target, or -1.
        With more targets than queries, only ``queries`` of the targets are matched.

    Example:
    >>> cost = np.array([[[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]], "float32")  # (1, 3, 2)
    >>> linear_sum_assignment(cost, np.array([2]))  # [[1, 0, -1]]

    References:
        Kuhn 1955, "The Hungarian method for the assignment problem"; Carion et al. 2020,
        "End-to-end object detection with transformers", ECCV, §3.1.
    """
    cost = ops.stop_gradient(ops.cast(cost, "float32"))  # (B, Q, T)
    counts = ops.cast(counts, "int32")  # (B,)
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        result = jax.ShapeDtypeStruct(tuple(cost.shape[:2]), "int32")
        return jax.pure_callback(_assign_on_host, result, cost, counts, vmap_method="sequential")  # (B, Q)
    if backend == "tensorflow":
        import tensorflow as tf

        assignment = tf.numpy_function(_assign_on_host, [cost, counts], tf.int32, stateful=False)  # (B, Q)
        assignment.set_shape(cost.shape[:2])  # numpy_function's output has an unknown shape
        return assignment
    assignment = _assign_on_host(ops.convert_to_numpy(cost), ops.convert_to_numpy(counts))  # (B, Q)
    return ops.convert_to_tensor(assignment, "int32")
