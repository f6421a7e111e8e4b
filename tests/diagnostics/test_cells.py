"""Interpretable cells: text features, ranking units by correlation, activations of a char
LM (checked against the Keras layers' own outputs), the heat map, and the charlm task's
diagnostics artifacts on a real tiny run."""

import json

import keras
import numpy as np
import pytest

from kerasseq.diagnostics import (cell_activations, inside_brackets, inside_quotes, inside_speaker_name,
                                  plot_cell_heatmap, position_in_line, position_in_word, rank_cells)
from kerasseq.models.char_lm import build_char_language_model

PNG = b"\x89PNG\r\n\x1a\n"


def test_features_on_small_strings():
    np.testing.assert_array_equal(position_in_line("ab\ncd\n\ne"), [1, 2, 0, 1, 2, 0, 0, 1])
    np.testing.assert_array_equal(position_in_word("Go, sir'd"), [1, 2, 0, 0, 1, 2, 3, 0, 1])
    np.testing.assert_array_equal(inside_quotes('a"bc"d"e'), [0, 1, 1, 1, 0, 0, 1, 1])
    np.testing.assert_array_equal(inside_quotes("x 'y' z", quote="'"), [0, 0, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(inside_brackets("a(b[c])d)e"), [0, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    text = "ROMEO:\nHear me:\n\nFirst Citizen:\nSpeak."
    expected = np.zeros(len(text))
    expected[:6] = 1  # "ROMEO:" at the start; "Hear me:" ends in a colon but follows no blank line
    start = text.index("First")
    expected[start: start + len("First Citizen:")] = 1
    np.testing.assert_array_equal(inside_speaker_name(text), expected)


def test_rank_cells_finds_a_planted_unit():
    rng = np.random.default_rng(0)
    feature = position_in_line(("To be, or not to be: that is the question:\n" * 20))
    activations = rng.normal(size=(len(feature), 16))
    activations[:, 11] = -0.05 * feature + rng.normal(size=len(feature)) * 0.2  # anti-correlated
    activations[:, 3] = 0.7  # constant: r = 0, no NaN
    units, r = rank_cells(activations, feature)
    assert units[0] == 11 and r[0] < -0.8
    assert np.all(np.abs(r[1:]) < 0.2) and np.all(np.isfinite(r))
    assert r[list(units).index(3)] == 0
    assert sorted(units) == list(range(16))
    np.testing.assert_allclose(r[0], np.corrcoef(activations[:, 11], feature)[0, 1], rtol=1e-10)
    with pytest.raises(ValueError, match="constant feature"):
        rank_cells(activations, np.ones(len(feature)))


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_activations_are_the_layer_states(cell):
    keras.utils.set_random_seed(0)
    model = build_char_language_model(9, cell=cell, units=5, depth=2, embedding_dim=4)
    ids = np.random.default_rng(1).integers(0, 9, 40)
    hidden = cell_activations(model, ids, state="hidden")
    layer_output = keras.Model(model.input, model.get_layer(f"{cell}_0").output)(ids[None])
    np.testing.assert_allclose(hidden, keras.ops.convert_to_numpy(layer_output)[0], atol=1e-5)
    if cell == "lstm":
        # c_T from the layer's own return_state, squashed as the paper colours it.
        layer = model.get_layer("lstm_0")
        x = keras.Model(model.input, layer.input)(ids[None])
        with_state = keras.layers.LSTM(5, return_state=True)
        with_state.build(x.shape)
        with_state.set_weights(layer.get_weights())
        _, _, c_last = with_state(x)
        default = cell_activations(model, ids)
        assert default.shape == (40, 5)
        np.testing.assert_allclose(default[-1], np.tanh(keras.ops.convert_to_numpy(c_last)[0]), atol=1e-5)
    else:
        with pytest.raises(ValueError, match="LSTM-like"):
            cell_activations(model, ids, state="cell")


def test_heatmap_writes_png(tmp_path):
    text = "ROMEO:\nBut soft, what light through yonder window breaks?\n" + "x" * 100
    activations = np.tanh(np.random.default_rng(0).normal(size=(len(text), 4)))
    path = plot_cell_heatmap(text, activations, [2, 0], tmp_path / "cells.png", width=40,
                             titles=["unit 2", "unit 0"], title="test")
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10000
    with pytest.raises(ValueError, match="one activation row per character"):
        plot_cell_heatmap(text[:-1], activations, [0], tmp_path / "bad.png")


def test_charlm_run_writes_diagnostics(tiny_run):
    artifacts = tiny_run / "runs" / "charlm" / "artifacts"
    for name in ("gradient_norms.png", "interpretable_cells.png"):
        assert (artifacts / name).read_bytes()[:8] == PNG
    norms = json.loads((artifacts / "gradient_norms.json").read_text())
    profile = norms["profiles"]["lstm"]
    assert len(profile) == 32 and all(v > 0 for v in profile)  # the tiny run's seq_len
    ranking = json.loads((artifacts / "cell_ranking.json").read_text())
    assert ranking["layer"] == "lstm_0" and ranking["state"] == "tanh(c_t)"
    assert ranking["passage_chars"] == 2000
    assert {"position_in_line", "inside_speaker_name"} <= set(ranking["features"])
    assert "inside_quotes" not in ranking["features"]  # Tiny Shakespeare has no quotes
    for top in ranking["features"].values():
        assert len(top) == 5 and all(0 <= t["unit"] < 32 and abs(t["r"]) <= 1 for t in top)
        assert abs(top[0]["r"]) >= abs(top[-1]["r"])
