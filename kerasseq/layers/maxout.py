"""Maxout (Goodfellow et al. 2013): the largest of each group of ``pool_size`` features."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasseq")
class Maxout(keras.layers.Layer):
    """``y_j = max_k x_{j·pool_size + k}`` over the last axis: ``(..., n)`` → ``(..., n /
    pool_size)``. Bahdanau et al. 2015's deep output layer is ``Dense(2 l)`` then ``Maxout(2)``.

    Args:
        pool_size: features per group; the last axis must be a multiple of it.
        **kwargs: base layer arguments.

    Example:
    >>> t = Maxout(2)(keras.layers.Dense(2 * 500)(features))  # (..., 500)

    References:
        Goodfellow et al. 2013, "Maxout networks"; Bahdanau et al. 2015, appendix A.2.2.
    """

    def __init__(self, pool_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ValueError(f"Expected pool_size to be a positive integer. Received: pool_size={pool_size!r}")
        self.pool_size = pool_size
        self.supports_masking = True

    def call(self, inputs):
        shape = ops.shape(inputs)
        if inputs.shape[-1] is not None and inputs.shape[-1] % self.pool_size:
            raise ValueError(f"Expected a last axis divisible by pool_size={self.pool_size}. "
                             f"Received: shape {inputs.shape}")
        grouped = ops.reshape(inputs, (*shape[:-1], shape[-1] // self.pool_size, self.pool_size))
        return ops.max(grouped, axis=-1)

    def compute_output_shape(self, input_shape):
        last = None if input_shape[-1] is None else input_shape[-1] // self.pool_size
        return (*input_shape[:-1], last)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}
