"""Elementwise clipping of derivatives inside the backward pass, as Graves 2013 trains his
handwriting networks: the loss derivatives with respect to the network outputs are clipped to
[−100, 100] and those with respect to the LSTM layers' net inputs (the gate pre-activations,
before the sigmoid and tanh) to [−10, 10] (sections 2 and 4). Unlike clipping the
gradient's global norm after the backward pass, this bounds each derivative where it arises,
so one exploding step cannot flood the recurrent backward pass.

``clip_gradient`` is the operation (identity forward), ``GradientClip`` the layer around it,
and ``DerivativeClippedLSTMCell`` a Keras ``LSTMCell`` whose gate pre-activations pass through
it at every step (run it with ``keras.layers.RNN``). ``keras.ops`` only: TensorFlow and JAX.
"""

from __future__ import annotations

import keras
from keras import ops


def clip_gradient(x, limit: float):
    """``x`` unchanged; in the backward pass, the derivative arriving at ``x`` clipped
    elementwise to ``[−limit, limit]``.

    Args:
        x: a tensor.
        limit: positive float, the largest derivative magnitude passed on.

    Returns:
        ``x``, with the clipped derivative.

    Example:
    >>> y_hat = clip_gradient(y_hat, 100.0)  # Graves' output derivative clipping
    """
    limit = float(limit)

    @ops.custom_gradient
    def identity(value):
        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            return ops.clip(upstream, -limit, limit)

        return value, grad

    return identity(x)


def _check_limit(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"Expected {name} to be a positive number. Received: {name}={value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="kerasseq")
class GradientClip(keras.layers.Layer):
    """The identity, whose backward pass clips each derivative to ``[−limit, limit]``
    (:func:`clip_gradient`). Put after a network's outputs, it is Graves' output derivative
    clipping (``limit=100`` for handwriting, Graves 2013, section 4).

    Args:
        limit: positive float, the largest derivative magnitude passed on.

    Example:
    >>> y_hat = GradientClip(100.0)(MixtureDensityHead(20)(hidden))

    References:
        Graves 2013, "Generating sequences with recurrent neural networks", arXiv:1308.0850.
    """

    def __init__(self, limit: float, **kwargs):
        super().__init__(**kwargs)
        self.limit = _check_limit("limit", limit)
        self.supports_masking = True

    def call(self, inputs):
        return clip_gradient(inputs, self.limit)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "limit": self.limit}


@keras.saving.register_keras_serializable(package="kerasseq")
class DerivativeClippedLSTMCell(keras.layers.LSTMCell):
    """``keras.layers.LSTMCell`` whose loss derivatives with respect to its net inputs (the
    four gate pre-activations ``W x_t + U h_{t−1} + b``, before the sigmoid and tanh) are
    clipped to ``[−derivative_clip, derivative_clip]`` at every step: Graves 2013's LSTM
    derivative clipping (``10`` for handwriting). The forward pass is the Keras cell's.

    Args:
        units: width of the hidden state.
        derivative_clip: positive float (Graves: 10).
        **kwargs: the other arguments of ``keras.layers.LSTMCell`` (``recurrent_dropout`` must
            be 0: Keras computes that variant gate by gate).

    Example:
    >>> lstm = keras.layers.RNN(DerivativeClippedLSTMCell(400, derivative_clip=10.0),
    ...                         return_sequences=True)

    References:
        Graves 2013, "Generating sequences with recurrent neural networks", arXiv:1308.0850,
        sections 2 and 4.
    """

    def __init__(self, units, derivative_clip: float = 10.0, **kwargs):
        if kwargs.get("recurrent_dropout", 0.0):
            raise ValueError("DerivativeClippedLSTMCell takes no recurrent_dropout. "
                             f"Received: recurrent_dropout={kwargs['recurrent_dropout']!r}")
        kwargs.pop("implementation", None)
        super().__init__(units, implementation=2, **kwargs)
        self.derivative_clip = _check_limit("derivative_clip", derivative_clip)

    def _compute_carry_and_output_fused(self, z, c_tm1):
        z = [clip_gradient(block, self.derivative_clip) for block in z]
        return super()._compute_carry_and_output_fused(z, c_tm1)

    def get_config(self):
        return {**super().get_config(), "derivative_clip": self.derivative_clip}
