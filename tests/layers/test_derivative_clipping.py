"""Graves' derivative clipping: the identity forward; backward, each derivative clipped where
it arrives (checked against the unclipped derivative and a NumPy LSTM step), the LSTM cell's
forward pass the Keras cell's, and both layers through run_layer_test (.keras round trips)."""

import keras
import numpy as np
import pytest

from kerasseq.layers import DerivativeClippedLSTMCell, GradientClip, clip_gradient
from testing import gradients, run_layer_test


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def test_clip_gradient_clips_the_arriving_derivative_not_the_value():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4)).astype("float32")
    w = (3 * rng.normal(size=(3, 4))).astype("float32")
    np.testing.assert_array_equal(_np(clip_gradient(x, 1.0)), x)
    (dx,) = gradients(lambda x: keras.ops.sum(w * clip_gradient(x, 1.0) ** 2), x)
    unclipped = 2 * w * x  # d/dx of sum(w x²): what arrives at clip_gradient's output
    assert np.abs(unclipped).max() > 1.0  # the limit bites
    np.testing.assert_allclose(_np(dx), np.clip(unclipped, -1.0, 1.0), rtol=1e-6)


def test_gradient_clip_layer(tmp_path):
    x = np.random.default_rng(1).normal(size=(2, 5, 7)).astype("float32")
    run_layer_test(GradientClip, {"limit": 100.0}, x, expected_output_shape=(2, 5, 7),
                   expected_num_trainable_weights=0, run_fit=False, tmp_path=tmp_path)
    for limit in (0.0, -1.0, True, "10"):
        with pytest.raises(ValueError, match="limit"):
            GradientClip(limit)


def _rnn(units, clip=None, dtype=None, return_sequences=True):
    cell = DerivativeClippedLSTMCell(units, clip, dtype=dtype) if clip else keras.layers.LSTMCell(units, dtype=dtype)
    return keras.layers.RNN(cell, return_sequences=return_sequences, dtype=dtype)


def test_cell_in_run_layer_test(tmp_path):
    x = np.random.default_rng(2).normal(size=(2, 6, 3)).astype("float32")
    make = lambda units, derivative_clip, dtype=None: _rnn(units, derivative_clip, dtype)  # noqa: E731
    run_layer_test(make, {"units": 4, "derivative_clip": 10.0}, x, expected_output_shape=(2, 6, 4),
                   expected_num_trainable_weights=3, tmp_path=tmp_path)
    cell = DerivativeClippedLSTMCell(4, 10.0)
    assert DerivativeClippedLSTMCell.from_config(cell.get_config()).derivative_clip == 10.0
    with pytest.raises(ValueError, match="recurrent_dropout"):
        DerivativeClippedLSTMCell(4, 10.0, recurrent_dropout=0.1)
    with pytest.raises(ValueError, match="derivative_clip"):
        DerivativeClippedLSTMCell(4, 0.0)


def _weights_and_loss(layer, x, w):
    """The layer's weights and ``loss(kernel, recurrent_kernel, bias) = Σ w · outputs``."""
    layer.build(x.shape)
    names = [v.path.split("/")[-1] for v in layer.trainable_variables]
    assert names == ["kernel", "recurrent_kernel", "bias"]

    fixed = [v.value for v in layer.non_trainable_variables]  # the dropout seed's state

    def loss(*values):
        outputs, _ = layer.stateless_call(list(values), fixed, x)
        return keras.ops.sum(w * outputs)

    return [_np(v) for v in layer.trainable_variables], loss


def test_one_step_derivatives_match_a_numpy_lstm_step_with_clipped_gate_inputs():
    """At one step from zero state, d loss / d kernel = xᵀ clip(d loss / d z) and
    d loss / d bias = Σ_batch clip(d loss / d z), z the four gate inputs."""
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    units, limit = 4, 0.5
    x = rng.normal(size=(2, 1, 3)).astype("float32")
    w = (5 * rng.normal(size=(2, 1, units))).astype("float32")
    (kernel, recurrent, bias), loss = _weights_and_loss(_rnn(units, limit), x, w)
    d_kernel, d_recurrent, d_bias = (_np(g) for g in gradients(loss, kernel, recurrent, bias))

    z = x[:, 0] @ kernel + bias  # h_0 = c_0 = 0
    zi, zf, zc, zo = np.split(z.astype(np.float64), 4, axis=1)
    i, g, o = _sigmoid(zi), np.tanh(zc), _sigmoid(zo)
    c = i * g
    dh = w[:, 0].astype(np.float64)
    dc = dh * o * (1 - np.tanh(c) ** 2)
    dz = np.concatenate([dc * g * i * (1 - i), np.zeros_like(zf), dc * i * (1 - g ** 2),
                         dh * np.tanh(c) * o * (1 - o)], axis=1)
    assert np.abs(dz).max() > limit  # the limit bites
    clipped = np.clip(dz, -limit, limit)
    np.testing.assert_allclose(d_kernel, x[:, 0].T @ clipped, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d_bias, clipped.sum(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d_recurrent, 0.0, atol=1e-7)


def test_over_time_forward_is_keras_lstm_and_derivatives_are_clipped_at_every_step():
    keras.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    batch, time, units = 3, 5, 4
    x = rng.normal(size=(batch, time, 2)).astype("float32")
    w = (4 * rng.normal(size=(batch, time, units))).astype("float32")
    plain_weights, plain_loss = _weights_and_loss(_rnn(units), x, w)
    plain = [_np(g) for g in gradients(plain_loss, *plain_weights)]
    for limit, same in ((1e6, True), (0.05, False)):
        layer = _rnn(units, limit)
        _, loss = _weights_and_loss(layer, x, w)
        layer.set_weights(plain_weights)
        np.testing.assert_allclose(_np(layer(x)), _np(_rnn_like(plain_weights, units)(x)), atol=1e-6)
        clipped = [_np(g) for g in gradients(loss, *plain_weights)]
        if same:  # a limit never reached: Keras' LSTM gradient
            for a, b in zip(clipped, plain):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        else:  # d bias = Σ over batch and time of clipped gate derivatives
            assert np.abs(plain[2]).max() > batch * time * limit
            assert np.abs(clipped[2]).max() <= batch * time * limit * (1 + 1e-6)


def _rnn_like(weights, units):
    layer = _rnn(units)
    layer.build((None, None, weights[0].shape[0]))
    layer.set_weights(weights)
    return layer
