"""Graves' mixture density output layer (Graves 2013, section 4.1), backend-agnostic."""

from __future__ import annotations

import keras

from kerasseq.losses.mixture_density import mixture_density_params, sample_mixture_density


@keras.saving.register_keras_serializable(package="kerasseq")
class MixtureDensityHead(keras.layers.Layer):
    """A dense layer to the raw parameters of an M-component bivariate Gaussian mixture over
    the next pen offset and a Bernoulli end-of-stroke bit (Graves 2013, eqs. 17-22).

    ``ŷ = W h + b`` with ``6M + 1`` channels ``π̂ | μx | μy | σ̂x | σ̂y | ρ̂ | ê`` (M each, then
    one). The layer returns ``ŷ`` raw, which :class:`kerasseq.losses.MixtureDensityNLL` scores
    stably; :meth:`distribution` gives ``π = softmax(π̂ (1 + b))``, ``σ = exp(σ̂ − b)``,
    ``ρ = tanh(ρ̂)``, ``e = sigmoid(ê)`` at sampling bias ``b``, and :meth:`sample` draws from it.

    Shapes: ``(..., features)`` -> ``(..., 6M + 1)``, e.g. ``(batch, time, units)``; a mask
    passes through.

    Args:
        num_components: ``M``, the Gaussians of the mixture (Graves: 20).
        kernel_initializer / bias_initializer: of the dense layer.
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``).

    Example:
    >>> head = MixtureDensityHead(20)
    >>> y_hat = head(np.zeros((2, 7, 64)))  # (2, 7, 121)
    >>> point = head.sample(y_hat[:, -1], bias=0.5, seed=0)  # (2, 3)

    References:
        Graves 2013, "Generating sequences with recurrent neural networks", arXiv:1308.0850,
        section 4.1 (and the bias of section 5.4); Bishop 1994, "Mixture density networks".
    """

    def __init__(self, num_components=20, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if int(num_components) < 1:
            raise ValueError(f"Expected num_components >= 1. Received: num_components={num_components}")
        self.num_components = int(num_components)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    @property
    def output_channels(self) -> int:
        return 6 * self.num_components + 1

    def build(self, input_shape):
        self.dense = keras.layers.Dense(self.output_channels, kernel_initializer=self.kernel_initializer,
                                        bias_initializer=self.bias_initializer,
                                        dtype=self.dtype_policy, name="mixture_parameters")
        self.dense.build(input_shape)

    def call(self, inputs):
        return self.dense(inputs)  # (..., 6M + 1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_channels)

    @staticmethod
    def distribution(y_hat, bias=0.0):
        """:func:`kerasseq.losses.mixture_density_params` of this layer's outputs."""
        return mixture_density_params(y_hat, bias)

    @staticmethod
    def sample(y_hat, bias=0.0, seed=None, noise=None):
        """:func:`kerasseq.losses.sample_mixture_density`: ``(..., 3)`` points."""
        return sample_mixture_density(y_hat, bias, seed=seed, noise=noise)

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}
