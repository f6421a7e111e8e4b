"""AttentionDecoderCell / AttentionRNN: the scan against a step-by-step loop over the same
sub-layers (attention with s_{i-1}, then the GRU on [y_i; c_i]), source masking, and
run_layer_test (config, weights, fit, mixed precision, .keras round trip)."""

import keras
import numpy as np

from kerasseq.layers.attention import BahdanauAttention
from kerasseq.layers.attention_decoder import AttentionDecoderCell, AttentionRNN
from testing import run_layer_test

BATCH, TQ, TV, IN_DIM, DIM, UNITS = 2, 3, 4, 5, 6, 4


def _layer(units=UNITS, dtype=None):
    cell = AttentionDecoderCell(keras.layers.GRUCell(units, dtype=dtype),
                                BahdanauAttention(units, dtype=dtype), dtype=dtype)
    return AttentionRNN(cell, dtype=dtype)


def _inputs():
    rng = np.random.default_rng(0)
    return [rng.normal(size=(BATCH, TQ, IN_DIM)).astype("float32"),
            rng.normal(size=(BATCH, TV, DIM)).astype("float32"),
            rng.normal(size=(BATCH, UNITS)).astype("float32")]


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_scan_matches_a_step_by_step_loop():
    layer = _layer()
    targets, values, state = _inputs()
    mask = np.arange(TV)[None, :] < np.array([4, 2])[:, None]  # (batch, Tv)
    outputs, weights, final = layer([targets, values, state], mask=[None, mask, None])
    attention, gru = layer.cell.attention, layer.cell.cell
    s = state
    for i in range(TQ):
        context, alpha = attention([s, values], mask=[None, mask])  # attends with s_{i-1}
        h, _ = gru(np.concatenate([targets[:, i], _numpy(context)], -1), [s])
        np.testing.assert_allclose(_numpy(weights)[:, i], _numpy(alpha), atol=1e-6)
        np.testing.assert_allclose(_numpy(outputs)[:, i],
                                   np.concatenate([_numpy(h), _numpy(context)], -1), atol=1e-6)
        s = h
    np.testing.assert_allclose(_numpy(final), _numpy(s), atol=1e-6)
    assert np.all(_numpy(weights)[1, :, 2:] == 0)  # masked source steps


def test_run_layer_test(tmp_path):
    run_layer_test(_layer, {"units": UNITS}, _inputs(),
                   expected_output_shape=[(BATCH, TQ, UNITS + DIM), (BATCH, TQ, TV), (BATCH, UNITS)],
                   expected_num_trainable_weights=6, tmp_path=tmp_path, atol=1e-5)
