"""The stacked recurrent network: the builder every recurrent task starts from.

Inputs (token ids through an embedding, or feature vectors) -> ``depth`` recurrent layers
(vanilla/Elman RNN, LSTM or GRU, optionally bidirectional) with dropout between them ->
a dense output head. Keras core layers do the recurrence, so cuDNN fast paths, masking,
``stateful`` and serialization work as in Keras.
"""

from __future__ import annotations

import keras

RECURRENT_LAYERS = {
    "rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
}


def recurrent_layer(cell: str, units: int, **kwargs) -> keras.layers.Layer:
    """One recurrent layer by name (``"rnn"``, ``"lstm"`` or ``"gru"``)."""
    if cell not in RECURRENT_LAYERS:
        raise ValueError(
            f"Expected cell to be one of {sorted(RECURRENT_LAYERS)}. Received: cell={cell!r}"
        )
    return RECURRENT_LAYERS[cell](units, **kwargs)


def num_states(cell: str) -> int:
    """How many state tensors a layer of this cell carries (LSTM: h and c)."""
    return 2 if cell == "lstm" else 1


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
    input_dim: int | None = None,
    dropout: float = 0.0,
    bidirectional: bool = False,
    return_sequences: bool = True,
    output_activation: str | None = None,
    stateful: bool = False,
    batch_size: int | None = None,
    seq_len: int | None = None,
    return_state: bool = False,
    name: str = "stacked_rnn",
) -> keras.Model:
    """Build a deep (stacked) recurrent network.

    The deep RNN of the lectures (Graves 2013, "Generating sequences with recurrent neural
    networks", §2; Pascanu et al. 2014, "How to construct deep recurrent neural networks"):
    h^l_t = f(h^{l-1}_t, h^l_{t-1}) for l = 1..depth, then y_t = W h^depth_t + b.

    Args:
        cell: ``"rnn"`` (Elman), ``"lstm"`` or ``"gru"``.
        units: width of every recurrent layer.
        depth: number of stacked recurrent layers.
        output_units: size of the output head (classes, vocabulary, regression targets).
        vocab_size: if given, inputs are int token ids ``(batch, time)`` fed to an embedding.
        embedding_dim: embedding width when ``vocab_size`` is given.
        input_dim: feature size when inputs are vectors ``(batch, time, input_dim)``.
        dropout: dropout rate after the embedding and after every recurrent layer.
        bidirectional: run every layer in both directions (``keras.layers.Bidirectional``).
        return_sequences: output every step ``(batch, time, output_units)``, or only the
            last ``(batch, output_units)``.
        output_activation: activation of the head; ``None`` gives logits.
        stateful: carry the final states of one batch into the next (truncated BPTT); needs
            ``batch_size``. Reset with :func:`reset_recurrent_states`.
        batch_size: fixed batch size (required when ``stateful``).
        seq_len: fixed number of steps, or ``None`` for any length.
        return_state: add initial-state inputs and final-state outputs (for step-by-step
            generation); the model then maps ``[inputs, *states]`` to ``[outputs, *states]``.
        name: model name.

    Returns:
        A ``keras.Model``.

    Example:
    >>> model = build_stacked_rnn(cell="gru", units=32, depth=2, vocab_size=65, output_units=65)
    >>> model(np.zeros((4, 10), "int32")).shape
    (4, 10, 65)
    """
    if depth < 1:
        raise ValueError(f"Expected depth >= 1. Received: depth={depth}")
    if stateful and not batch_size:
        raise ValueError(f"Expected batch_size when stateful=True. Received: batch_size={batch_size}")
    if (vocab_size is None) == (input_dim is None):
        raise ValueError(
            "Expected exactly one of vocab_size (token inputs) or input_dim (vector inputs). "
            f"Received: vocab_size={vocab_size}, input_dim={input_dim}"
        )
    if return_state and bidirectional:
        raise ValueError("Expected bidirectional=False with return_state=True.")

    if vocab_size is not None:
        inputs = keras.Input(batch_shape=(batch_size, seq_len), dtype="int32", name="tokens")
        x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(inputs)
    else:
        inputs = keras.Input(batch_shape=(batch_size, seq_len, input_dim), name="features")
        x = inputs
    if dropout:
        x = keras.layers.Dropout(dropout, name="input_dropout")(x)

    k = num_states(cell)
    state_inputs, state_outputs = [], []
    for i in range(depth):
        last = i == depth - 1
        layer = recurrent_layer(
            cell,
            units,
            return_sequences=return_sequences or not last,
            return_state=return_state,
            stateful=stateful,
            name=f"{cell}_{i}",
        )
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{i}")
        if return_state:
            initial = [
                keras.Input(batch_shape=(batch_size, units), name=f"state_{i}_{j}")
                for j in range(k)
            ]
            x, *final = layer(x, initial_state=initial)
            state_inputs += initial
            state_outputs += final
        else:
            x = layer(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    outputs = keras.layers.Dense(output_units, activation=output_activation, name="head")(x)
    if return_state:
        return keras.Model([inputs, *state_inputs], [outputs, *state_outputs], name=name)
    return keras.Model(inputs, outputs, name=name)
