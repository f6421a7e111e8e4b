"""Stochastic depth ("drop path"): drop a residual branch for whole samples while training."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasseq")
class StochasticDepth(keras.layers.Layer):
    """Zero a residual branch for a random ``rate`` of the samples of a batch, and scale the
    kept ones by ``1 / (1 - rate)``; the identity at inference. Applied to the branch before
    the residual sum: ``x + StochasticDepth(rate)(f(x))``, as timm's ``DropPath``.

    Args:
        rate: probability of dropping the branch of a sample, in ``[0, 1)``.
        seed: seed of the layer's ``keras.random.SeedGenerator``.
        **kwargs: base layer arguments.

    Input/output: any shape ``(batch, ...)``.

    Example:
    >>> x = x + StochasticDepth(0.1)(mlp(norm(x)))

    References:
        Huang et al. 2016, "Deep networks with stochastic depth".
    """

    def __init__(self, rate: float = 0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Expected 0 <= rate < 1. Received: rate={rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        kept = ops.floor(keep + keras.random.uniform(shape, seed=self.seed_generator,
                                                     dtype=inputs.dtype))  # 1 w.p. keep
        return inputs * kept / ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
