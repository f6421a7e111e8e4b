"""SoftWindow and SoftWindowLSTM: the shared layer checks (config, weights, fit, mixed
precision, .keras round trip) and Graves' window equations (46-52) step by step in NumPy."""

import keras
import numpy as np
import pytest

from kerasseq.layers import SoftWindow, SoftWindowLSTM, one_hot_characters
from testing import run_layer_test

IDS = np.array([[1, 2, 3, 0], [4, 5, 1, 2]], "int32")  # (2, U = 4), V = 6, one padded line


def _weights(layer):
    return [keras.ops.convert_to_numpy(w).astype(np.float64) for w in layer.weights]


def test_soft_window_contract(tmp_path):
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(2, 5)).astype("float32"), np.abs(rng.normal(size=(2, 3))).astype("float32"),
              keras.ops.convert_to_numpy(one_hot_characters(IDS, 6))]
    out = run_layer_test(SoftWindow, {"num_components": 3}, inputs, expected_output_shape=[(2, 6), (2, 3), (2, 4)],
                         expected_num_trainable_weights=6, tmp_path=tmp_path, atol=1e-5)
    assert (out[1] > inputs[1]).all()  # κ only moves forward
    with pytest.raises(ValueError, match="num_components >= 1"):
        SoftWindow(0)


def test_soft_window_lstm_contract(tmp_path):
    strokes = np.random.default_rng(1).normal(size=(2, 5, 3)).astype("float32")
    run_layer_test(SoftWindowLSTM, {"units": 8, "vocabulary_size": 6, "num_components": 3}, [strokes, IDS],
                   expected_output_shape=[(2, 5, 8), (2, 5, 6), (2, 5, 4)],
                   expected_num_trainable_weights=9, tmp_path=tmp_path, atol=1e-5)
    with pytest.raises(ValueError, match="vocabulary_size"):
        SoftWindowLSTM(8, vocabulary_size=1)


def test_window_equations_step_by_step_against_numpy():
    layer = SoftWindowLSTM(8, vocabulary_size=6, num_components=3, kappa_bias_init=-1.0)
    strokes = np.random.default_rng(2).normal(size=(2, 6, 3)).astype("float32")
    h_seq, w_seq, phi_seq = (keras.ops.convert_to_numpy(t) for t in layer([strokes, IDS]))
    kernel, recurrent, bias = _weights(layer.cell)
    wa, ba, wb, bb, wk, bk = _weights(layer.window)
    np.testing.assert_allclose(bk, -1.0)  # the κ̂ bias starts at kappa_bias_init
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    c_u = np.eye(6)[IDS] * (IDS > 0)[..., None]  # (2, U, V), padding rows zero
    u = np.arange(1, 5)
    h, c, kappa, w = np.zeros((2, 8)), np.zeros((2, 8)), np.zeros((2, 3)), np.zeros((2, 6))
    for t in range(6):
        z = np.concatenate([strokes[:, t], w], -1) @ kernel + h @ recurrent + bias  # eq. 52
        i, f, g, o = np.split(z, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        alpha, beta = np.exp(h @ wa + ba), np.exp(h @ wb + bb)  # eqs. 48-49
        kappa = kappa + np.exp(h @ wk + bk)  # eq. 50-51
        phi = (alpha[:, :, None] * np.exp(-beta[:, :, None] * (kappa[:, :, None] - u) ** 2)).sum(1)  # eq. 46
        w = np.einsum("bu,buv->bv", phi, c_u)  # eq. 47
        np.testing.assert_allclose(h_seq[:, t], h, atol=1e-5)
        np.testing.assert_allclose(phi_seq[:, t], phi, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(w_seq[:, t], w, rtol=1e-4, atol=1e-6)
    assert np.abs(w_seq[0, :, 0]).max() == 0  # id 0 is padding, never a character
