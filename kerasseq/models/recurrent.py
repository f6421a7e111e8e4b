"""The stacked recurrent network: the builder every recurrent task starts from.

Inputs (token ids through an embedding, or feature vectors) -> ``depth`` recurrent layers
(Elman RNN, LSTM, GRU, or a kerasseq cell: leaky integrator, MUT1-3, time-delay; optionally
bidirectional, residual) with dropout between them -> a dense head on every step or on the
last/mean state. Keras core layers (or ``keras.layers.RNN`` over a kerasseq cell) run the
recurrence, so cuDNN fast paths, masking, ``stateful`` and serialization work as in Keras.
"""

from __future__ import annotations

import keras

RECURRENT_LAYERS = {
    "rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
}

# kerasseq cells (kerasseq.layers.recurrent_cells and .mut_cells), run by keras.layers.RNN.
RECURRENT_CELLS = {
    "leaky": "LeakyUnitCell",
    "mut1": "MUT1Cell",
    "mut2": "MUT2Cell",
    "mut3": "MUT3Cell",
    "delay": "TimeDelayCell",
}

# Every cell name the builders accept.
CELL_NAMES = tuple(sorted([*RECURRENT_LAYERS, *RECURRENT_CELLS]))

# Cells that add the input to units-sized vectors (MUT1's tanh(x), MUT2's x), so the
# builder projects wider or narrower inputs to `units` first, as the paper embeds its inputs.
_INPUT_WIDTH_IS_UNITS = ("mut1", "mut2")


def _check_cell(cell: str) -> None:
    if cell not in CELL_NAMES:
        raise ValueError(f"Expected cell to be one of {list(CELL_NAMES)}. Received: cell={cell!r}")


def recurrent_layer(cell: str, units: int, *, recurrent_dropout: float = 0.0,
                    cell_kwargs: dict | None = None, **kwargs) -> keras.layers.Layer:
    """One recurrent layer by cell name (see :data:`CELL_NAMES`).

    ``"rnn"``, ``"lstm"`` and ``"gru"`` are Keras' own layers (with their fused fast paths);
    the others are kerasseq cells inside ``keras.layers.RNN``. ``cell_kwargs`` go to a
    kerasseq cell (e.g. ``{"delay": 4}``, ``{"tau_max": 50}``); ``kwargs`` to the layer
    (``return_sequences``, ``stateful``, ``name`` ...).
    """
    _check_cell(cell)
    if cell in RECURRENT_LAYERS:
        if cell_kwargs:
            raise ValueError(f"Expected no cell_kwargs for cell={cell!r}. Received: {cell_kwargs}")
        return RECURRENT_LAYERS[cell](units, recurrent_dropout=recurrent_dropout, **kwargs)
    import kerasseq.layers

    cell_class = getattr(kerasseq.layers, RECURRENT_CELLS[cell])
    name = kwargs.get("name")
    return keras.layers.RNN(
        cell_class(units, recurrent_dropout=recurrent_dropout, **(cell_kwargs or {}),
                   name=f"{name}_cell" if name else None),
        **kwargs)


def state_sizes(cell: str, units: int, cell_kwargs: dict | None = None) -> list[int]:
    """Widths of the state tensors one layer of this cell carries (LSTM: h and c; the
    time-delay cell: ``h_{t-1}`` and a buffer of the ``delay - 1`` states before it)."""
    _check_cell(cell)
    if cell == "lstm":
        return [units, units]
    if cell == "delay":
        delay = int((cell_kwargs or {}).get("delay", 2))
        return [units] if delay == 1 else [units, (delay - 1) * units]
    return [units]


def num_states(cell: str, cell_kwargs: dict | None = None) -> int:
    """How many state tensors a layer of this cell carries (LSTM: h and c)."""
    return len(state_sizes(cell, 1, cell_kwargs))


def reset_recurrent_states(model: keras.Model) -> None:
    """Zero the carried states of every stateful recurrent layer of ``model`` (Keras 3
    models have no ``reset_states``)."""
    for layer in model._flatten_layers(include_self=False):
        if getattr(layer, "stateful", False) and hasattr(layer, "reset_state"):
            layer.reset_state()


def build_stacked_rnn(
    *,
    cell: str = "lstm",
    units: int = 256,
    depth: int = 2,
    output_units: int,
    vocab_size: int | None = None,
    embedding_dim: int = 64,
    mask_zero: bool = False,
    input_dim: int | None = None,
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
    bidirectional: bool = False,
    merge_mode: str = "concat",
    residual: bool = False,
    output_mode: str = "sequence",
    output_activation: str | None = None,
    cell_kwargs: dict | None = None,
    stateful: bool = False,
    batch_size: int | None = None,
    seq_len: int | None = None,
    return_state: bool = False,
    name: str = "stacked_rnn",
) -> keras.Model:
    """Build a deep (stacked) recurrent network.

    The deep RNN of the lectures (Graves 2013, "Generating sequences with recurrent neural
    networks", §2; Pascanu et al. 2014, "How to construct deep recurrent neural networks"):
    h^l_t = f(h^{l-1}_t, h^l_{t-1}) for l = 1..depth, then y = W h + b on every step
    (synchronous many-to-many) or on one summary of the sequence (many-to-one).

    Args:
        cell: a name of :data:`CELL_NAMES`: ``"rnn"`` (Elman), ``"lstm"``, ``"gru"``,
            ``"leaky"`` (leaky-integrator units), ``"mut1"``/``"mut2"``/``"mut3"``
            (Jozefowicz et al. 2015), ``"delay"`` (time-delay skip recurrence).
        units: width of every recurrent layer (per direction).
        depth: number of stacked recurrent layers.
        output_units: size of the output head (classes, vocabulary, regression targets).
        vocab_size: if given, inputs are int token ids ``(batch, time)`` fed to an embedding.
        embedding_dim: embedding width when ``vocab_size`` is given.
        mask_zero: token id 0 is padding: it is masked in every layer (with ``"last"``
            output the last *valid* step is used, with ``"mean"`` only valid steps count).
        input_dim: feature size when inputs are vectors ``(batch, time, input_dim)``.
        dropout: dropout rate after the embedding and after every recurrent layer.
        recurrent_dropout: dropout on the recurrent connections, one mask per sequence (Gal
            and Ghahramani 2016).
        bidirectional: run every layer in both directions (``keras.layers.Bidirectional``).
        merge_mode: how the two directions combine: ``"concat"``, ``"sum"``, ``"mul"``, ``"ave"``.
        residual: add each layer's input to its output where the widths agree (layers after
            the first, and the first when the input width equals the layer's output width).
        output_mode: ``"sequence"``: outputs on every step ``(batch, time, output_units)``;
            ``"last"``: from the last (valid) step ``(batch, output_units)``; ``"mean"``: from
            the mean of the top layer's states over valid steps ``(batch, output_units)``.
        output_activation: activation of the head; ``None`` gives logits.
        cell_kwargs: extra arguments of a kerasseq cell (``{"delay": 4}``, ``{"tau_max": 50}``).
        stateful: carry the final states of one batch into the next (truncated BPTT); needs
            ``batch_size``. Reset with :func:`reset_recurrent_states`.
        batch_size: fixed batch size (required when ``stateful``).
        seq_len: fixed number of steps, or ``None`` for any length.
        return_state: add initial-state inputs and final-state outputs (for step-by-step
            generation); the model then maps ``[inputs, *states]`` to ``[outputs, *states]``.
        name: model name.

    MUT1 and MUT2 add the input itself to units-wide vectors; where a layer's input width is
    not ``units``, a linear projection to ``units`` is inserted before it.

    Returns:
        A ``keras.Model``.

    Example:
    >>> model = build_stacked_rnn(cell="gru", units=32, depth=2, vocab_size=65, output_units=65)
    >>> model(np.zeros((4, 10), "int32")).shape
    (4, 10, 65)
    >>> classifier = build_stacked_rnn(cell="lstm", units=32, depth=1, vocab_size=1000,
    ...     mask_zero=True, bidirectional=True, output_mode="mean", output_units=2)
    """
    _check_cell(cell)
    if depth < 1:
        raise ValueError(f"Expected depth >= 1. Received: depth={depth}")
    if stateful and not batch_size:
        raise ValueError(f"Expected batch_size when stateful=True. Received: batch_size={batch_size}")
    if (vocab_size is None) == (input_dim is None):
        raise ValueError(
            "Expected exactly one of vocab_size (token inputs) or input_dim (vector inputs). "
            f"Received: vocab_size={vocab_size}, input_dim={input_dim}"
        )
    if output_mode not in ("sequence", "last", "mean"):
        raise ValueError("Expected output_mode to be one of 'sequence', 'last', 'mean'. "
                         f"Received: output_mode={output_mode!r}")
    if merge_mode not in ("concat", "sum", "mul", "ave"):
        raise ValueError("Expected merge_mode to be one of 'concat', 'sum', 'mul', 'ave'. "
                         f"Received: merge_mode={merge_mode!r}")
    if return_state and bidirectional:
        raise ValueError("Expected bidirectional=False with return_state=True.")
    if return_state and output_mode == "mean":
        raise ValueError("Expected output_mode 'sequence' or 'last' with return_state=True.")

    if vocab_size is not None:
        inputs = keras.Input(batch_shape=(batch_size, seq_len), dtype="int32", name="tokens")
        x = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=mask_zero, name="embedding")(inputs)
        width = embedding_dim
    else:
        inputs = keras.Input(batch_shape=(batch_size, seq_len, input_dim), name="features")
        x = keras.layers.Masking(0.0, name="masking")(inputs) if mask_zero else inputs
        width = input_dim
    if dropout:
        x = keras.layers.Dropout(dropout, name="input_dropout")(x)

    out_width = units * (2 if bidirectional and merge_mode == "concat" else 1)
    sizes = state_sizes(cell, units, cell_kwargs)
    state_inputs, state_outputs = [], []
    for i in range(depth):
        last = i == depth - 1
        if cell in _INPUT_WIDTH_IS_UNITS and width != units:
            x = keras.layers.Dense(units, use_bias=False, name=f"project_{i}")(x)
            width = units
        layer = recurrent_layer(
            cell,
            units,
            recurrent_dropout=recurrent_dropout,
            cell_kwargs=cell_kwargs,
            return_sequences=not (last and output_mode == "last"),
            return_state=return_state,
            stateful=stateful,
            name=f"{cell}_{i}",
        )
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, merge_mode=merge_mode, name=f"bidirectional_{i}")
        if return_state:
            initial = [keras.Input(batch_shape=(batch_size, size), name=f"state_{i}_{j}")
                       for j, size in enumerate(sizes)]
            y, *final = layer(x, initial_state=initial)
            state_inputs += initial
            state_outputs += final
        else:
            y = layer(x)
        if residual and width == out_width and not (last and output_mode == "last"):
            y = keras.layers.Add(name=f"residual_{i}")([x, y])
        x, width = y, out_width
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    if output_mode == "mean":
        x = keras.layers.GlobalAveragePooling1D(name="mean_over_time")(x)
    outputs = keras.layers.Dense(output_units, activation=output_activation, name="head")(x)
    if return_state:
        return keras.Model([inputs, *state_inputs], [outputs, *state_outputs], name=name)
    return keras.Model(inputs, outputs, name=name)
