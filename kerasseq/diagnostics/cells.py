"""Interpretable cells of a character language model.

Karpathy, Johnson and Fei-Fei 2016, "Visualizing and understanding recurrent networks": run a
trained character LM over a passage, record one recurrent unit's activation after every
character, and colour the passage by it. A few units track interpretable properties of the
text (the position in the line, being inside quotes or brackets, ...); here they are found by
ranking every unit by the |Pearson correlation| of its activation with such a feature.

A feature (and an activation) at position t describes the state *after reading* character t:
``inside_quotes('a"b"c')`` is ``[0, 1, 1, 0, 0]``, on from the opening quote, off from the
closing one. Tiny Shakespeare has no quotes or brackets; its speeches open with the speaker's
name on a line of its own (``ROMEO:``), which :func:`inside_speaker_name` marks.
"""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np

from kerasseq.diagnostics.gradients import _recurrent_layer, _state_sizes, state_probe_model


def cell_activations(model: keras.Model, ids, *, layer_name: str | None = None,
                     state: str | None = None) -> np.ndarray:
    """Activations of one recurrent layer after each character of a passage.

    Args:
        model: a stateless character LM (e.g. a task's ``serving_model``), run from zero
            states.
        ids: int ids of the passage ``(T,)``.
        layer_name: the recurrent layer (default: the first, ``"{cell}_0"``).
        state: ``"cell"``: tanh(c_t), the LSTM cell state squashed into [-1, 1] as the
            paper colours it; ``"hidden"``: h_t, the layer's output. Default: ``"cell"`` for
            an LSTM, ``"hidden"`` for every other cell (its only state).

    Returns:
        float array ``(T, units)``.
    """
    ids = np.asarray(ids).reshape(-1)
    layer = _recurrent_layer(model, layer_name)
    sizes = _state_sizes(layer.cell)
    if state is None:
        state = "cell" if isinstance(layer.cell, keras.layers.LSTMCell) else "hidden"
    if state not in ("hidden", "cell"):
        raise ValueError(f"Expected state to be 'hidden' or 'cell'. Received: state={state!r}")
    if state == "cell" and (len(sizes) != 2 or sizes[1] != sizes[0]):
        raise ValueError(f"Expected an LSTM-like cell with states [h, c] for state='cell'. "
                         f"Received: state_size={layer.cell.state_size}")
    probe = state_probe_model(model, layer.name)
    units = probe.inputs[1].shape[-1]
    eps = np.zeros((1, len(ids), units), "float32")
    # (1, T, units + sum(sizes)): h_t, then the layer's states (LSTM: h_t, c_t)
    _, states = probe.predict([ids[None].astype("int32"), eps], verbose=0)
    if state == "hidden":
        return states[0, :, :units]
    return np.tanh(states[0, :, 2 * units: 3 * units])


def rank_cells(activations, feature) -> tuple[np.ndarray, np.ndarray]:
    """Units sorted by the |Pearson correlation| of their activation with a feature.

    Args:
        activations: ``(T, units)``, e.g. from :func:`cell_activations`.
        feature: ``(T,)`` values per character, e.g. :func:`position_in_line`.

    Returns:
        ``(units, r)``: unit indices, most correlated first, and their (signed) correlations.
        A unit that never changes has r = 0.
    """
    a = np.asarray(activations, float)
    f = np.asarray(feature, float).reshape(-1)
    if a.ndim != 2 or a.shape[0] != f.shape[0]:
        raise ValueError(f"Expected activations (T, units) and feature (T,). Received: "
                         f"{a.shape} and {f.shape}")
    if f.std() == 0:
        raise ValueError("Expected a feature that varies over the passage. Received: a constant feature")
    a = a - a.mean(axis=0)
    f = (f - f.mean()) / f.std()
    std = a.std(axis=0)
    r = np.where(std > 0, (a * f[:, None]).mean(axis=0) / np.where(std > 0, std, 1.0), 0.0)
    order = np.argsort(-np.abs(r), kind="stable")
    return order, r[order]


def position_in_line(text: str) -> np.ndarray:
    """Characters read so far in the current line (a newline starts a new line: 0)."""
    out, n = np.zeros(len(text)), 0
    for t, ch in enumerate(text):
        n = 0 if ch == "\n" else n + 1
        out[t] = n
    return out


def position_in_word(text: str) -> np.ndarray:
    """Letters read so far in the current word (any non-letter: 0)."""
    out, n = np.zeros(len(text)), 0
    for t, ch in enumerate(text):
        n = n + 1 if ch.isalpha() else 0
        out[t] = n
    return out


def inside_quotes(text: str, quote: str = '"') -> np.ndarray:
    """1 inside a quotation: from an opening ``quote`` up to (not including) its closing one."""
    return (np.cumsum([ch == quote for ch in text]) % 2).astype(float)


def inside_brackets(text: str, pairs: str = "()[]{}") -> np.ndarray:
    """1 inside brackets (any nesting): from an opening bracket up to its closing one."""
    opening, closing = set(pairs[0::2]), set(pairs[1::2])
    out, depth = np.zeros(len(text)), 0
    for t, ch in enumerate(text):
        depth = depth + 1 if ch in opening else max(depth - 1, 0) if ch in closing else depth
        out[t] = depth > 0
    return out


# A speaker line of Tiny Shakespeare: a name and a colon alone on a line after a blank line.
_SPEAKER = re.compile(r"(?:\A|\n\n)([A-Za-z][A-Za-z' .,-]*:)(?=\n|\Z)")


def inside_speaker_name(text: str) -> np.ndarray:
    """1 on the characters (colon included) of lines that name the next speaker, as
    ``ROMEO:`` or ``First Citizen:`` after a blank line in Tiny Shakespeare."""
    out = np.zeros(len(text))
    for match in _SPEAKER.finditer(text):
        out[match.start(1): match.end(1)] = 1
    return out


# The features ranked for every trained character LM (see kerasseq.tasks.charlm).
TEXT_FEATURES = {
    "position_in_line": position_in_line,
    "position_in_word": position_in_word,
    "inside_speaker_name": inside_speaker_name,
    "inside_quotes": inside_quotes,
    "inside_brackets": inside_brackets,
}


def _layout(text: str, width: int):
    """(row, column) of every character, breaking lines at newlines and at ``width``."""
    rows, cols, row, col = [], [], 0, 0
    for ch in text:
        if col >= width:
            row, col = row + 1, 0
        rows.append(row)
        cols.append(col)
        if ch == "\n":
            row, col = row + 1, 0
        else:
            col += 1
    return np.array(rows, int), np.array(cols, int)


def plot_cell_heatmap(text: str, activations, units, out_png, *, width: int = 80,
                      titles=None, title: str = "") -> Path:
    """Karpathy's figure: the passage, one block per unit, each character on a background
    coloured by the unit's activation after reading it (red negative, blue positive).

    Args:
        text: the passage (``T`` characters); newlines show as ``↵``, lines wrap at ``width``.
        activations: ``(T, units)``, e.g. from :func:`cell_activations`.
        units: the unit indices to draw, one block each.
        out_png: PNG file to write.
        width: characters per row.
        titles: one caption per unit (default ``"unit i"``).
        title: figure title.

    Each block's colour scale is symmetric around 0 at that unit's largest |activation| (a
    short-trained model's tanh(c) rarely reaches ±1); the caption gives the scale.
    """
    from kerasseq.plotting import _pyplot, save_figure

    plt = _pyplot()
    activations = np.asarray(activations, float)
    units = [int(u) for u in units]
    if activations.shape[0] != len(text):
        raise ValueError(f"Expected one activation row per character. Received: {activations.shape[0]} "
                         f"rows for {len(text)} characters")
    rows, cols = _layout(text, width)
    num_rows = int(rows.max()) + 1 if len(text) else 1
    titles = list(titles) if titles is not None else [f"unit {u}" for u in units]
    # One text per row over an image with one pixel per character, the columns exactly as
    # wide as the monospace font's characters (measured), so each letter sits on its cell.
    font, dpi, mono = 9.0, 110, "DejaVu Sans Mono"
    fig = plt.figure(dpi=dpi)
    probe = fig.text(0, 0, "M" * width, fontsize=font, family=mono)
    char_w = probe.get_window_extent(fig.canvas.get_renderer()).width / width / dpi  # inches
    probe.remove()
    row_h = 1.5 * font / 72
    margin, caption_h, top = 0.15, 0.3, 0.45 if title else 0.1
    block_h = num_rows * row_h
    fig_w, fig_h = width * char_w + 2 * margin, top + len(units) * (caption_h + block_h) + margin
    fig.set_size_inches(fig_w, fig_h)
    cmap = plt.get_cmap("RdBu").with_extremes(bad="white")
    lines = [[" "] * width for _ in range(num_rows)]
    for ch, r, c in zip(text, rows, cols):
        lines[r][c] = " " if ch.isspace() else ch
    newlines = [(r, c) for ch, r, c in zip(text, rows, cols) if ch == "\n"]
    for k, (unit, caption) in enumerate(zip(units, titles)):
        bottom = fig_h - top - (k + 1) * (caption_h + block_h)
        ax = fig.add_axes([margin / fig_w, bottom / fig_h, width * char_w / fig_w, block_h / fig_h])
        grid = np.full((num_rows, width), np.nan)
        grid[rows, cols] = activations[:, unit]
        scale = max(float(np.abs(activations[:, unit]).max(initial=0.0)), 1e-12)
        ax.imshow(grid, cmap=cmap, vmin=-scale, vmax=scale, aspect="auto", interpolation="nearest",
                  alpha=0.75,  # lighter colours keep the letters readable
                  extent=(-0.5, width - 0.5, num_rows - 0.5, -0.5))
        for r, line in enumerate(lines):
            ax.text(-0.5, r, "".join(line), ha="left", va="center", fontsize=font, family=mono)
        for r, c in newlines:
            ax.text(c, r, "↵", ha="center", va="center", fontsize=font * 0.8, family=mono, color="0.5")
        ax.set_title(f"{caption}   (colour: ±{scale:.2g})", fontsize=9, loc="left")
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(num_rows - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, y=1 - 0.08 / fig_h, va="top")
    return save_figure(fig, out_png, dpi)
