"""Gradient flow through time: ‖∂L/∂h_t‖ against independent NumPy references (BPTT by hand,
the closed form of a linear RNN, finite differences of a NumPy LSTM), its decay for small
weights, the plots, and the experiment on a tiny budget."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerasseq.diagnostics import (UnsupportedLayerError, compare_gradient_flow, gradient_flow_experiment,
                                  plot_gradient_flow, state_gradient_norms, state_probe_model)
from kerasseq.models.char_lm import build_char_language_model
from kerasseq.models.recurrent import CELL_NAMES

VOCAB, EMBED, T = 7, 3, 12


def _ids(batch=3, time=T + 1, seed=0):
    return np.random.default_rng(seed).integers(0, VOCAB, (batch, time)).astype("int32")


def _stacked_elman(units, depth, activation, rng, recurrent_scale=0.6):
    """Embedding -> `depth` SimpleRNNs -> logits, with weights drawn from `rng`."""
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, EMBED, name="embedding")(inputs)
    for i in range(depth):
        x = keras.layers.SimpleRNN(units, activation=activation, return_sequences=True, name=f"rnn_{i}")(x)
    model = keras.Model(inputs, keras.layers.Dense(VOCAB, name="head")(x))
    weights = {"embedding": [rng.normal(size=(VOCAB, EMBED))],
               "head": [rng.normal(size=(units, VOCAB)), rng.normal(size=VOCAB) * 0.1]}
    for i in range(depth):
        width = EMBED if i == 0 else units
        weights[f"rnn_{i}"] = [rng.normal(size=(width, units)) * 0.5,
                               rng.normal(size=(units, units)) * recurrent_scale / np.sqrt(units),
                               rng.normal(size=units) * 0.1]
    for name, values in weights.items():
        model.get_layer(name).set_weights([v.astype("float32") for v in values])
    return model


def _elman_bptt(model, ids, depth, activation):
    """‖∂L/∂h¹_t‖ by hand: forward in float64, then backpropagation through time, where the
    first layer's h_t gets gradient from h_{t+1} and from the layer above at step t."""
    f, df = ((np.tanh, lambda h: 1 - h ** 2) if activation == "tanh" else (lambda a: a, np.ones_like))
    w = {layer.name: [v.astype(float) for v in layer.get_weights()] for layer in model.layers if layer.weights}
    x, target = w["embedding"][0][ids[:, :-1]], ids[:, -1]  # (batch, T, embed)
    hs = []
    for i in range(depth):
        kernel, recurrent, bias = w[f"rnn_{i}"]
        h, out = np.zeros((len(ids), recurrent.shape[0])), []
        for t in range(x.shape[1]):
            h = f(x[:, t] @ kernel + h @ recurrent + bias)
            out.append(h)
        hs.append(np.stack(out, 1))
        x = hs[-1]
    logits = hs[-1][:, -1] @ w["head"][0] + w["head"][1]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(ids)), target] -= 1  # dL/dlogits
    # grads[i][:, t] = total dL/dh^i_t; from the head only at the last step of the top layer.
    grads = [np.zeros_like(h) for h in hs]
    grads[-1][:, -1] = p @ w["head"][0].T
    for t in reversed(range(x.shape[1])):
        for i in reversed(range(depth)):
            kernel, recurrent, _ = w[f"rnn_{i}"]
            delta = grads[i][:, t] * df(hs[i][:, t])  # dL/d(pre-activation)
            if t > 0:
                grads[i][:, t - 1] += delta @ recurrent.T
            if i > 0:
                grads[i - 1][:, t] += delta @ kernel.T
    return np.linalg.norm(grads[0], axis=-1).mean(0)


@pytest.mark.parametrize("activation, depth", [("tanh", 1), (None, 1), ("tanh", 2)])
def test_norms_match_backpropagation_through_time_by_hand(activation, depth):
    model = _stacked_elman(4, depth, activation, np.random.default_rng(1))
    ids = _ids()
    norms = state_gradient_norms(model, ids)
    assert norms.shape == (T,)
    np.testing.assert_allclose(norms, _elman_bptt(model, ids, depth, activation or "linear"), rtol=2e-4)


def test_linear_rnn_closed_form():
    # h_t = x_t K + h_{t-1} R + b: ∂L/∂h_t = g_T (Rᵀ)^(T−t), g_T = ∂L/∂h_T.
    model = _stacked_elman(3, 1, None, np.random.default_rng(2), recurrent_scale=1.5)
    ids = _ids(batch=1)
    recurrent = model.get_layer("rnn_0").get_weights()[1].astype(float)
    norms = state_gradient_norms(model, ids)
    w = {layer.name: [v.astype(float) for v in layer.get_weights()] for layer in model.layers if layer.weights}
    x = w["embedding"][0][ids[0, :-1]]
    hidden = np.zeros(3)
    for t in range(T):
        hidden = x[t] @ w["rnn_0"][0] + hidden @ recurrent + w["rnn_0"][2]
    logits = hidden @ w["head"][0] + w["head"][1]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    p[ids[0, -1]] -= 1
    g_T = p @ w["head"][0].T
    expected = [np.linalg.norm(g_T @ np.linalg.matrix_power(recurrent.T, T - 1 - t)) for t in range(T)]
    np.testing.assert_allclose(norms, expected, rtol=2e-4)


def _numpy_lstm_loss(w, ids, eps):
    """Cross-entropy at the last step of embedding -> LSTM -> dense, in float64, with eps[t]
    added to h_t (Keras' gate order i, f, c, o)."""
    kernel, recurrent, bias = w["lstm_0"]
    units = recurrent.shape[0]
    h, c = np.zeros(units), np.zeros(units)
    sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    for t, i in enumerate(ids[:-1]):
        z = w["embedding"][0][i] @ kernel + h @ recurrent + bias
        gi, gf, gc, go = (z[k * units:(k + 1) * units] for k in range(4))
        c = sigmoid(gf) * c + sigmoid(gi) * np.tanh(gc)
        h = sigmoid(go) * np.tanh(c) + eps[t]
    logits = h @ w["head"][0] + w["head"][1]
    return np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[ids[-1]]


def test_lstm_norms_match_finite_differences():
    keras.utils.set_random_seed(3)
    model = build_char_language_model(VOCAB, cell="lstm", units=3, depth=1, embedding_dim=EMBED)
    w = {layer.name: [v.astype(float) for v in layer.get_weights()] for layer in model.layers if layer.weights}
    w["lstm_0"][1] = w["lstm_0"][1] * 3  # bigger recurrent weights: long-range terms well above rounding
    model.get_layer("lstm_0").set_weights([v.astype("float32") for v in w["lstm_0"]])
    ids = _ids(batch=1, time=7)
    eps, step = np.zeros((6, 3)), 1e-5
    grads = np.zeros_like(eps)
    for index in np.ndindex(*eps.shape):
        up, down = eps.copy(), eps.copy()
        up[index] += step
        down[index] -= step
        grads[index] = (_numpy_lstm_loss(w, ids[0], up) - _numpy_lstm_loss(w, ids[0], down)) / (2 * step)
    np.testing.assert_allclose(state_gradient_norms(model, ids), np.linalg.norm(grads, axis=-1), rtol=1e-3)


# Every cell the builders know (the time-delay cell keeps h_t as the newest block of its buffer).
@pytest.mark.parametrize("cell", CELL_NAMES)
def test_every_cell_probe_reproduces_the_model_and_its_last_step_gradient(cell):
    tf = pytest.importorskip("tensorflow")  # GradientTape; the JAX path: test_jax_backend_agrees_with_tensorflow

    keras.utils.set_random_seed(0)
    model = build_char_language_model(VOCAB, cell=cell, units=5, depth=2, embedding_dim=EMBED)
    ids = _ids()
    # The probe of the second layer (a recurrent layer below it, a head above) at ε = 0.
    outputs, states = state_probe_model(model, f"{cell}_1")([ids, np.zeros((*ids.shape, 5), "float32")])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs), keras.ops.convert_to_numpy(model(ids)),
                               atol=1e-5)
    layer_output = keras.Model(model.input, model.get_layer(f"{cell}_1").output)(ids)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(states)[..., :5],
                               keras.ops.convert_to_numpy(layer_output), atol=1e-5)
    # At t = T, ∂L/∂h_T only passes through the layers above: check it with a plain tape.
    norms = state_gradient_norms(model, ids, layer_name=f"{cell}_1")
    assert norms.shape == (T,) and np.all(np.isfinite(norms)) and np.all(norms[:-1] > 0)
    below = keras.Model(model.input, model.get_layer(f"{cell}_1").output)
    h = tf.constant(below(ids[:, :-1])[:, -1:])  # (batch, 1, units)
    with tf.GradientTape() as tape:
        tape.watch(h)
        logits = model.get_layer("head")(h)[:, -1]
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(ids[:, -1], logits, from_logits=True))
    expected = np.linalg.norm(tape.gradient(loss, h).numpy()[:, 0], axis=-1).mean()
    np.testing.assert_allclose(norms[-1], expected, rtol=1e-4)


def _char_lm_with(cell, units, rng, recurrent, bias=None):
    keras.utils.set_random_seed(0)
    model = build_char_language_model(VOCAB, cell=cell, units=units, depth=1, embedding_dim=EMBED)
    layer = model.get_layer(f"{cell}_0")
    kernel_shape = layer.get_weights()[0].shape
    layer.set_weights([(rng.normal(size=kernel_shape) * 0.3).astype("float32"), recurrent.astype("float32"),
                       (np.zeros(kernel_shape[1]) if bias is None else bias).astype("float32")])
    return model


def test_small_weights_vanish_and_lstm_forget_gate_keeps_gradients_longer():
    units, time = 6, 30
    rng = np.random.default_rng(4)
    ids = np.random.default_rng(5).integers(0, VOCAB, (4, time + 1)).astype("int32")
    orthogonal = np.linalg.qr(rng.normal(size=(units, units)))[0]
    # tanh RNN with recurrent matrix 0.5·Q: ‖∂h_t/∂h_{t-1}‖ ≤ 0.5, so the profile falls at least as 0.5^k.
    rnn = state_gradient_norms(_char_lm_with("rnn", units, rng, 0.5 * orthogonal), ids)
    back = rnn[::-1]  # back[k]: k steps back from the loss
    assert np.all(np.diff(back) < 0)
    assert np.all(back[1:] <= back[1] * 0.5 ** np.arange(-1, time - 1)[1:] * (1 + 1e-4))
    # LSTM with small recurrent weights and forget bias 1: c carries the signal with f ≈ σ(1) ≈ 0.73.
    bias = np.zeros(4 * units)
    bias[units:2 * units] = 1.0
    lstm = state_gradient_norms(
        _char_lm_with("lstm", units, rng, rng.normal(size=(units, 4 * units)) * 0.1, bias), ids)[::-1]
    horizon = 20
    assert lstm[horizon] / lstm[1] > 100 * (back[horizon] / back[1])
    assert 0.73 ** 25 < lstm[horizon] / lstm[1] < 0.1  # decays, but slowly


def test_unsupported_models_are_named():
    keras.utils.set_random_seed(0)
    stateful = build_char_language_model(VOCAB, cell="gru", units=4, depth=1, stateful=True, batch_size=2)
    with pytest.raises(UnsupportedLayerError, match="stateless"):
        state_probe_model(stateful)
    dense = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    with pytest.raises(UnsupportedLayerError, match="recurrent layer"):
        state_probe_model(dense)


def test_plots_write_png_and_json(tmp_path):
    keras.utils.set_random_seed(0)
    models = {cell: build_char_language_model(VOCAB, cell=cell, units=4, depth=1, embedding_dim=EMBED)
              for cell in ("rnn", "gru")}
    profiles = compare_gradient_flow(models, _ids(), tmp_path / "flow.png", title="test")
    saved = json.loads((tmp_path / "flow.json").read_text())
    assert saved["steps_back"][0] == T - 1 and saved["steps_back"][-1] == 0
    np.testing.assert_allclose(saved["profiles"]["gru"], profiles["gru"], rtol=1e-6)
    path = plot_gradient_flow({"init": profiles, "trained": profiles}, tmp_path / "two.png")
    for png in (tmp_path / "flow.png", path):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


JAX_CHECK = """
import json, sys
import numpy as np
from kerasseq.diagnostics import state_gradient_norms
from kerasseq.models.char_lm import build_char_language_model
from kerasseq.models.recurrent import CELL_NAMES
weights, ids = json.load(sys.stdin)
model = build_char_language_model(7, cell="gru", units=4, depth=2, embedding_dim=3)
model.set_weights([np.asarray(w, "float32") for w in weights])
print(json.dumps(state_gradient_norms(model, np.asarray(ids, "int32")).tolist()))
"""


def test_jax_backend_agrees_with_tensorflow():
    pytest.importorskip("jax")
    keras.utils.set_random_seed(6)
    model = build_char_language_model(VOCAB, cell="gru", units=4, depth=2, embedding_dim=EMBED)
    ids = _ids()
    payload = json.dumps([[w.tolist() for w in model.get_weights()], ids.tolist()])
    result = subprocess.run([sys.executable, "-c", JAX_CHECK], input=payload, capture_output=True, text=True,
                            env={**os.environ, "KERAS_BACKEND": "jax"}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(json.loads(result.stdout.strip().splitlines()[-1]),
                               state_gradient_norms(model, ids), rtol=1e-4)


@pytest.mark.slow
def test_experiment_writes_figure_and_numbers(tmp_path, data_dir, capsys):
    # One cell on a tiny budget (the notebook runs the four-cell experiment).
    result = gradient_flow_experiment(tmp_path, cells=("lstm",), steps=2, units=8, seq_len=50,
                                      batch_size=32, embedding_dim=8, num_sequences=4, data_dir=data_dir)
    saved = json.loads((tmp_path / "gradient_flow.json").read_text())
    assert saved == json.loads(json.dumps(result))
    for stage in ("at_initialisation", "after_training"):
        assert list(saved[stage]) == ["lstm"] and len(saved[stage]["lstm"]) == 50
        assert saved["far_to_near"][stage]["lstm"] == pytest.approx(saved[stage]["lstm"][0] / saved[stage]["lstm"][-1])
    assert saved["at_initialisation"] != saved["after_training"]
    assert 0 < saved["val_bits_per_char"]["lstm"] < 7
    assert (tmp_path / "gradient_flow.png").stat().st_size > 10000
    assert (tmp_path / "runs" / "lstm" / "artifacts" / "gradient_norms.json").exists()
    assert "[1/1] lstm: training 2 steps" in capsys.readouterr().out
