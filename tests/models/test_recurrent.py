"""The stacked recurrent builder (runs on the TensorFlow and the JAX backend)."""

import keras
import numpy as np
import pytest

from kerasseq.models import build_stacked_rnn, reset_recurrent_states
from kerasseq.models.recurrent import CELL_NAMES, RECURRENT_LAYERS, state_sizes

CELLS = sorted(RECURRENT_LAYERS)


@pytest.mark.parametrize("cell", CELLS)
def test_token_model_shapes_and_fit(cell):
    model = build_stacked_rnn(cell=cell, units=8, depth=2, vocab_size=11, embedding_dim=4,
                              output_units=11, dropout=0.1)
    x = np.random.default_rng(0).integers(0, 11, (6, 7)).astype("int32")
    assert model(x).shape == (6, 7, 11)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.evaluate(x, x, verbose=0)
    model.fit(x, x, epochs=5, verbose=0)
    assert model.evaluate(x, x, verbose=0) < before


def test_vector_inputs_many_to_one_bidirectional():
    model = build_stacked_rnn(cell="gru", units=5, depth=2, input_dim=3, output_units=4,
                              bidirectional=True, output_mode="last", output_activation="softmax")
    y = model(np.ones((2, 9, 3), "float32"))
    assert y.shape == (2, 4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.sum(y, -1)), 1.0, rtol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_stateful_carries_and_resets_state(cell):
    model = build_stacked_rnn(cell=cell, units=6, depth=2, vocab_size=5, output_units=5,
                              stateful=True, batch_size=2)
    x = np.array([[1, 2, 3], [4, 0, 1]], "int32")
    first = keras.ops.convert_to_numpy(model(x))
    carried = keras.ops.convert_to_numpy(model(x))
    assert not np.allclose(first, carried)  # second call starts from the first call's states
    reset_recurrent_states(model)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), first, atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_stateful_chunks_equal_one_long_sequence(cell):
    """Truncated BPTT's forward pass: chunks through a stateful model == the whole sequence."""
    kwargs = dict(cell=cell, units=6, depth=2, vocab_size=5, output_units=5)
    whole = build_stacked_rnn(**kwargs)
    stateful = build_stacked_rnn(**kwargs, stateful=True, batch_size=2)
    stateful.set_weights(whole.get_weights())
    x = np.random.default_rng(1).integers(0, 5, (2, 12)).astype("int32")
    chunks = [keras.ops.convert_to_numpy(stateful(x[:, i:i + 4])) for i in range(0, 12, 4)]
    np.testing.assert_allclose(np.concatenate(chunks, 1), keras.ops.convert_to_numpy(whole(x)),
                               atol=1e-5)


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_return_state_model_steps_like_the_sequence_model(cell):
    cell_kwargs = {"delay": 3} if cell == "delay" else None
    kwargs = dict(cell=cell, units=6, depth=3, vocab_size=5, output_units=5, cell_kwargs=cell_kwargs)
    seq = build_stacked_rnn(**kwargs)
    step = build_stacked_rnn(**kwargs, return_state=True)
    step.set_weights(seq.get_weights())
    sizes = state_sizes(cell, 6, cell_kwargs)
    assert [tuple(i.shape) for i in step.inputs[1:]] == [(None, n) for n in sizes] * 3
    x = np.random.default_rng(2).integers(0, 5, (1, 7)).astype("int32")
    states = [keras.ops.zeros((1, i.shape[-1])) for i in step.inputs[1:]]
    outs = []
    for t in range(7):
        y, *states = step([keras.ops.convert_to_tensor(x[:, t:t + 1]), *states])
        outs.append(keras.ops.convert_to_numpy(y))
    np.testing.assert_allclose(np.concatenate(outs, 1), keras.ops.convert_to_numpy(seq(x)), atol=1e-5)


def test_keras_save_load_round_trip(tmp_path):
    model = build_stacked_rnn(cell="lstm", units=4, depth=2, vocab_size=7, output_units=7)
    x = np.arange(14, dtype="int32").reshape(2, 7) % 7
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)),
                               keras.ops.convert_to_numpy(model(x)), atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(cell="tcn"), "cell to be one of"),
    (dict(output_mode="max"), "output_mode"),
    (dict(merge_mode="avg", bidirectional=True), "merge_mode"),
    (dict(depth=0), "depth >= 1"),
    (dict(stateful=True), "batch_size when stateful"),
    (dict(input_dim=3), "exactly one of vocab_size"),
])
def test_bad_arguments_raise_value_errors(kwargs, message):
    args = dict(cell="lstm", units=4, depth=1, vocab_size=5, output_units=5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        build_stacked_rnn(**args)


@pytest.mark.parametrize("cell, reference", [("rnn", keras.layers.SimpleRNN),
                                             ("lstm", keras.layers.LSTM), ("gru", keras.layers.GRU)])
def test_builder_equals_keras_layers_given_the_same_weights(cell, reference):
    """The builder's vanilla/LSTM/GRU path is exactly Keras' layer stack."""
    model = build_stacked_rnn(cell=cell, units=5, depth=2, input_dim=3, output_units=2)
    x = np.random.default_rng(4).normal(size=(2, 6, 3)).astype("float32")
    first, second = reference(5, return_sequences=True), reference(5, return_sequences=True)
    head = keras.layers.Dense(2)
    head(second(first(x)))  # build
    first.set_weights(model.get_layer(f"{cell}_0").get_weights())
    second.set_weights(model.get_layer(f"{cell}_1").get_weights())
    head.set_weights(model.get_layer("head").get_weights())
    expected = keras.ops.convert_to_numpy(head(second(first(x))))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), expected, atol=1e-5)


def test_mean_output_respects_the_padding_mask():
    model = build_stacked_rnn(cell="gru", units=4, depth=2, vocab_size=9, mask_zero=True,
                              output_mode="mean", output_units=3, bidirectional=True, residual=True)
    x = np.array([[3, 4, 5, 0, 0]], "int32")
    out = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(model(x[:, :3])), atol=1e-5)
    # The mean over the three valid steps of the top layer, then the head.
    top = keras.Model(model.inputs, model.get_layer("residual_1").output)
    states = keras.ops.convert_to_numpy(top(x[:, :3]))
    head = model.get_layer("head")
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(head(states.mean(1))), atol=1e-5)


def test_residual_connections_and_merge_modes():
    model = build_stacked_rnn(cell="lstm", units=4, depth=3, input_dim=4, output_units=2,
                              residual=True, bidirectional=True, merge_mode="sum")
    names = [l.name for l in model.layers]
    # Every layer keeps the width (4 inputs, sum of two 4-wide directions): all are residual.
    assert {"residual_0", "residual_1", "residual_2"} <= set(names)
    concat = build_stacked_rnn(cell="lstm", units=4, depth=2, input_dim=4, output_units=2,
                               residual=True, bidirectional=True)
    # With concat the first layer widens 4 -> 8, so only the second is residual.
    assert "residual_0" not in [l.name for l in concat.layers]
    assert "residual_1" in [l.name for l in concat.layers]
    assert concat(np.ones((1, 5, 4), "float32")).shape == (1, 5, 2)


def test_recurrent_dropout_only_in_training():
    model = build_stacked_rnn(cell="gru", units=6, depth=1, input_dim=3, output_units=2,
                              recurrent_dropout=0.5)
    x = np.ones((2, 5, 3), "float32")
    a = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(a, keras.ops.convert_to_numpy(model(x)))
    assert not np.allclose(a, keras.ops.convert_to_numpy(model(x, training=True)))
