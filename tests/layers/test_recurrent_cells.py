"""Recurrent cells: each against a NumPy step-by-step reference of its formula, inside
keras.layers.RNN with masks, Bidirectional, stacking, stateful and dropout, and run_layer_test."""

import inspect

import keras
import numpy as np
import pytest

from kerasseq.layers import LeakyUnitCell, MUT1Cell, MUT2Cell, MUT3Cell, TimeDelayCell
from testing import run_layer_test

UNITS, BATCH, TIME = 3, 2, 6


# ----------------------------------------------------------------------------- references
def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _leaky_step(w, x, h):
    tau = w["tau"] if "tau" in w else 1.0 + np.logaddexp(0.0, w["tau_raw"])
    leak = 1.0 / tau
    h = (1 - leak) * h + leak * np.tanh(x @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"])
    return h, h


def _mut1_step(w, x, h):
    w_xz, w_xr = np.split(w["kernel"], 2, axis=1)
    w_hr, w_hh = np.split(w["recurrent_kernel"], 2, axis=1)
    b_z, b_r, b_h = np.split(w["bias"], 3)
    z = _sigmoid(x @ w_xz + b_z)
    r = _sigmoid(x @ w_xr + h @ w_hr + b_r)
    h = np.tanh((r * h) @ w_hh + np.tanh(x) + b_h) * z + h * (1 - z)
    return h, h


def _mut2_step(w, x, h):
    w_xz, w_xh = np.split(w["kernel"], 2, axis=1)
    w_hz, w_hr, w_hh = np.split(w["recurrent_kernel"], 3, axis=1)
    b_z, b_r, b_h = np.split(w["bias"], 3)
    z = _sigmoid(x @ w_xz + h @ w_hz + b_z)
    r = _sigmoid(x + h @ w_hr + b_r)
    h = np.tanh((r * h) @ w_hh + x @ w_xh + b_h) * z + h * (1 - z)
    return h, h


def _mut3_step(w, x, h):
    w_xz, w_xr, w_xh = np.split(w["kernel"], 3, axis=1)
    w_hz, w_hr, w_hh = np.split(w["recurrent_kernel"], 3, axis=1)
    b_z, b_r, b_h = np.split(w["bias"], 3)
    z = _sigmoid(x @ w_xz + np.tanh(h) @ w_hz + b_z)
    r = _sigmoid(x @ w_xr + h @ w_hr + b_r)
    h = np.tanh((r * h) @ w_hh + x @ w_xh + b_h) * z + h * (1 - z)
    return h, h


def _time_delay_step(w, x, buffer):
    # The reference keeps one buffer [h_{t-D}, ..., h_{t-1}] (the cell splits it in two).
    units = w["bias"].shape[0]
    h_prev, h_delayed = buffer[:, -units:], buffer[:, :units]
    h = np.tanh(x @ w["kernel"] + h_prev @ w["recurrent_kernel"] + h_delayed @ w["delay_kernel"]
                + w["bias"])
    return h, np.concatenate([buffer[:, units:], h], axis=1)


STEPS = {LeakyUnitCell: _leaky_step, MUT1Cell: _mut1_step, MUT2Cell: _mut2_step,
         MUT3Cell: _mut3_step, TimeDelayCell: _time_delay_step}


def reference(cell, x, mask=None):
    """The cell's recurrence in NumPy (float64) as keras.layers.RNN runs it: from zero
    states; a masked step keeps the state and repeats the previous output."""
    w = {v.name: keras.ops.convert_to_numpy(v).astype("float64") for v in cell.weights}
    state = np.zeros((x.shape[0], sum(keras.tree.flatten(cell.state_size))))
    out = np.zeros((x.shape[0], cell.output_size))
    outputs = []
    for t in range(x.shape[1]):
        new_out, new_state = STEPS[type(cell)](w, x[:, t].astype("float64"), state)
        keep = np.ones((x.shape[0], 1), bool) if mask is None else mask[:, t, None]
        out, state = np.where(keep, new_out, out), np.where(keep, new_state, state)
        outputs.append(out)
    return np.stack(outputs, axis=1)  # (batch, time, units)


# ----------------------------------------------------------------------------- helpers
# (cell class, constructor arguments, input features)
CASES = {
    "leaky_learned": (LeakyUnitCell, {"units": UNITS, "tau_min": 1.0, "tau_max": 10.0}, 4),
    "leaky_fixed": (LeakyUnitCell, {"units": UNITS, "tau_min": 2.0, "tau_max": 5.0,
                                    "learn_tau": False}, 4),
    "mut1": (MUT1Cell, {"units": UNITS}, UNITS),
    "mut2": (MUT2Cell, {"units": UNITS}, UNITS),
    "mut3": (MUT3Cell, {"units": UNITS}, 4),
    "time_delay_1": (TimeDelayCell, {"units": UNITS, "delay": 1}, 4),
    "time_delay_3": (TimeDelayCell, {"units": UNITS, "delay": 3}, 4),
}
cases = pytest.mark.parametrize("case", list(CASES))
# One case per cell class, for the checks where the fixed-tau and delay-1 variants add nothing.
one_per_cell = pytest.mark.parametrize(
    "case", ["leaky_learned", "mut1", "mut2", "mut3", "time_delay_3"])


def _inputs(features, seed=0):
    return np.random.default_rng(seed).normal(size=(BATCH, TIME, features)).astype("float32")


def _randomize(cell, seed=1):
    """Random weights (biases included) so every term of the formula matters; the time
    constants keep their initial spread."""
    rng = np.random.default_rng(seed)
    for v in cell.weights:
        if v.name not in ("tau", "tau_raw"):
            v.assign(rng.normal(scale=0.5, size=v.shape).astype("float32"))


def _built_rnn(case, x, **rnn_kwargs):
    cls, kwargs, _ = CASES[case]
    cell = cls(**kwargs)
    rnn = keras.layers.RNN(cell, return_sequences=True, **rnn_kwargs)
    rnn.build(x.shape)
    _randomize(cell)
    return rnn, cell


def _np(x):
    return keras.ops.convert_to_numpy(x)


def rnn_of(cell_cls):
    """Build ``RNN(cell_cls(**kwargs))`` (for run_layer_test), passing the dtype to both."""
    def make(dtype=None, **kwargs):
        return keras.layers.RNN(cell_cls(**kwargs, dtype=dtype), return_sequences=True, dtype=dtype)
    return make


# ----------------------------------------------------------------------------- tests
@cases
def test_cell_matches_numpy_reference_with_masking(case):
    x = _inputs(CASES[case][2])
    mask = np.ones((BATCH, TIME), bool)
    mask[1, 4:] = False  # trailing padding
    rnn, cell = _built_rnn(case, x)
    expected = reference(cell, x, mask)
    np.testing.assert_allclose(_np(rnn(x, mask=mask)), expected, atol=1e-5)
    np.testing.assert_allclose(_np(rnn(x)), reference(cell, x), atol=1e-5)
    assert not np.allclose(expected[1], reference(cell, x)[1])  # the mask mattered


@cases
def test_run_layer_test(case, tmp_path):
    cls, kwargs, features = CASES[case]
    trainable = {LeakyUnitCell: 4 if kwargs.get("learn_tau", True) else 3,
                 TimeDelayCell: 4}.get(cls, 3)
    run_layer_test(rnn_of(cls), kwargs, _inputs(features),
                   expected_output_shape=(BATCH, TIME, UNITS),
                   expected_num_trainable_weights=trainable,
                   expected_num_non_trainable_weights=int(case == "leaky_fixed"), tmp_path=tmp_path)


@one_per_cell
def test_use_bias_false_equals_a_zero_bias(case):
    cls, kwargs, features = CASES[case]
    x = _inputs(features)
    with_bias, cell = _built_rnn(case, x)
    cell.bias.assign(np.zeros(cell.bias.shape, "float32"))
    without = keras.layers.RNN(cls(**kwargs, use_bias=False), return_sequences=True)
    without.build(x.shape)
    assert "bias" not in [v.name for v in without.cell.weights]
    for v in without.cell.weights:
        v.assign(getattr(cell, v.name))
    np.testing.assert_allclose(_np(without(x)), _np(with_bias(x)), atol=1e-6)


@pytest.mark.parametrize("cls", [LeakyUnitCell, MUT1Cell, MUT2Cell, MUT3Cell, TimeDelayCell])
def test_get_config_returns_exactly_the_constructor_arguments(cls):
    cell = cls(UNITS, kernel_regularizer="l2", recurrent_constraint="non_neg", dropout=0.25, seed=7,
               **({"tau_min": 2.0, "learn_tau": False} if cls is LeakyUnitCell else {}),
               **({"delay": 5} if cls is TimeDelayCell else {}))
    config = cell.get_config()
    base = set(keras.layers.Layer().get_config())
    params = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    assert set(config) - base == params
    rebuilt = cls.from_config(config)
    assert rebuilt.get_config() == config
    assert (rebuilt.dropout, rebuilt.seed) == (0.25, 7)


def test_leaky_unit_with_tau_one_is_simple_rnn():
    x = _inputs(4)
    leaky = keras.layers.RNN(LeakyUnitCell(UNITS, tau_min=1.0, tau_max=1.0, learn_tau=False),
                             return_sequences=True)
    leaky.build(x.shape)
    _randomize(leaky.cell)
    simple = keras.layers.SimpleRNN(UNITS, return_sequences=True)
    simple.build(x.shape)
    simple.cell.kernel.assign(leaky.cell.kernel)
    simple.cell.recurrent_kernel.assign(leaky.cell.recurrent_kernel)
    simple.cell.bias.assign(leaky.cell.bias)
    np.testing.assert_array_equal(_np(leaky.cell.time_constants()), 1.0)
    np.testing.assert_allclose(_np(leaky(x)), _np(simple(x)), atol=1e-6)


@pytest.mark.parametrize("learn_tau", [True, False])
def test_leaky_unit_time_constants_start_log_spaced_over_tau_range(learn_tau):
    cell = LeakyUnitCell(5, tau_min=1.0, tau_max=100.0, learn_tau=learn_tau)
    cell.build((None, 4))
    tau = _np(cell.time_constants())
    np.testing.assert_allclose(tau, np.geomspace(1.0, 100.0, 5), rtol=1e-5, atol=2e-3)
    assert tau.min() >= 1.0 and tau.max() == pytest.approx(100.0, rel=1e-5)
    tau_weights = [w.name for w in cell.trainable_weights if "tau" in w.name]
    assert tau_weights == (["tau_raw"] if learn_tau else [])


def test_learned_time_constants_stay_at_least_one_under_a_large_learning_rate():
    # Only tau trains, towards a tau = 1 teacher with the same weights: its optimum is the
    # boundary tau = 1, which an unconstrained tau would overshoot at a learning rate of 100.
    x = _inputs(4)
    cell = LeakyUnitCell(UNITS, tau_min=1.5, tau_max=4.0)
    model = keras.Sequential([keras.Input((TIME, 4)),
                              keras.layers.RNN(cell, return_sequences=True)])
    _randomize(cell)
    teacher = keras.layers.RNN(LeakyUnitCell(UNITS, tau_min=1.0, tau_max=1.0, learn_tau=False),
                               return_sequences=True)
    teacher.build(x.shape)
    for name in ("kernel", "recurrent_kernel", "bias"):
        getattr(teacher.cell, name).assign(getattr(cell, name))
        getattr(cell, name).trainable = False
    before = _np(cell.time_constants())
    model.compile(optimizer=keras.optimizers.SGD(100.0), loss="mse")
    model.fit(x, _np(teacher(x)), epochs=5, batch_size=BATCH, verbose=0)
    after = _np(cell.time_constants())
    assert np.all(np.isfinite(after)) and after.min() >= 1.0, after
    assert np.all(after < before) and after.min() < 1.05, (before, after)


@one_per_cell
def test_bidirectional_over_mask_zero_embeddings(case):
    cls, kwargs, features = CASES[case]
    tokens = np.array([[3, 1, 4, 1, 5, 9], [2, 6, 5, 3, 0, 0]], "int32")  # trailing padding
    embedding = keras.layers.Embedding(10, features, mask_zero=True)
    bidirectional = keras.layers.Bidirectional(
        keras.layers.RNN(cls(**kwargs), return_sequences=True))
    model = keras.Sequential([keras.Input((TIME,), dtype="int32"), embedding, bidirectional])
    _randomize(bidirectional.forward_layer.cell, seed=1)
    _randomize(bidirectional.backward_layer.cell, seed=2)
    y = _np(model(tokens))  # (batch, time, 2 * units)
    x, mask = _np(embedding(tokens)), tokens != 0
    forward = reference(bidirectional.forward_layer.cell, x, mask)
    backward = reference(bidirectional.backward_layer.cell, x[:, ::-1], mask[:, ::-1])[:, ::-1]
    np.testing.assert_allclose(y[mask], np.concatenate([forward, backward], -1)[mask], atol=1e-5)


@one_per_cell
def test_two_cells_stacked(case):
    cls, kwargs, features = CASES[case]
    first, second = cls(**kwargs), cls(**kwargs)
    x = _inputs(features)
    rnn = keras.layers.RNN(keras.layers.StackedRNNCells([first, second]), return_sequences=True)
    rnn.build(x.shape)
    _randomize(first, seed=1)
    _randomize(second, seed=2)
    np.testing.assert_allclose(_np(rnn(x)), reference(second, reference(first, x)), atol=1e-5)


@cases
def test_stateful_chunks_equal_the_whole_sequence(case):
    x = _inputs(CASES[case][2])
    rnn, cell = _built_rnn(case, x, stateful=True)
    assert [tuple(s.shape) for s in rnn.states] == [(BATCH, size) for size in
                                                    keras.tree.flatten(cell.state_size)]
    whole = _np(rnn(x))
    rnn.reset_state()
    chunks = [_np(rnn(x[:, :2])), _np(rnn(x[:, 2:]))]
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), whole, atol=1e-6)
    rnn.reset_state()
    assert not np.allclose(_np(rnn(x[:, 2:])), whole[:, 2:])  # the state was carried over


@one_per_cell
@pytest.mark.parametrize("rates", [(0.5, 0.0), (0.0, 0.5)], ids=["dropout", "recurrent_dropout"])
def test_dropout_only_in_training(case, rates):
    cls, kwargs, features = CASES[case]
    x = _inputs(features)
    rnn = keras.layers.RNN(cls(**kwargs, dropout=rates[0], recurrent_dropout=rates[1], seed=3),
                           return_sequences=True)
    inference = _np(rnn(x))
    np.testing.assert_array_equal(_np(rnn(x)), inference)
    np.testing.assert_allclose(inference, reference(rnn.cell, x), atol=1e-5)
    training = _np(rnn(x, training=True))
    assert np.all(np.isfinite(training)) and not np.allclose(training, inference)


@pytest.mark.parametrize("delay", [1, 2, 3])
def test_time_delay_cell_reaches_back_delay_steps(delay):
    # Independent of the shift buffer: keep the whole history, h_{t-D} = history[-D].
    x = _inputs(4)
    rnn = keras.layers.RNN(TimeDelayCell(UNITS, delay=delay), return_sequences=True,
                           return_state=True)
    rnn.build(x.shape)
    _randomize(rnn.cell)
    outputs, *states = (_np(t) for t in rnn(x))
    w = {v.name: _np(v).astype("float64") for v in rnn.cell.weights}
    history = [np.zeros((BATCH, UNITS))] * delay
    for t in range(TIME):
        history.append(np.tanh(x[:, t] @ w["kernel"] + history[-1] @ w["recurrent_kernel"]
                               + history[-delay] @ w["delay_kernel"] + w["bias"]))
    np.testing.assert_allclose(outputs, np.stack(history[delay:], axis=1), atol=1e-5)
    # The final states: h_T, then [h_{T-D+1}, ..., h_{T-1}] oldest first.
    expected = [history[-1]] + ([np.concatenate(history[-delay:-1], axis=1)] if delay > 1 else [])
    assert len(states) == len(expected)
    for state, want in zip(states, expected):
        np.testing.assert_allclose(state, want, atol=1e-5)
    assert rnn.cell.output_size == UNITS
    assert sum(keras.tree.flatten(rnn.cell.state_size)) == delay * UNITS


@pytest.mark.parametrize("cls, kwargs, name", [
    (LeakyUnitCell, {"units": 3, "tau_min": 0.5}, "tau_min"),
    (LeakyUnitCell, {"units": 3, "tau_min": 5.0, "tau_max": 2.0}, "tau_max"),
    (TimeDelayCell, {"units": 3, "delay": 0}, "delay"),
    (TimeDelayCell, {"units": 3, "delay": 1.5}, "delay"),
    (MUT3Cell, {"units": 0}, "units"),
    (MUT3Cell, {"units": 3, "dropout": 1.0}, "dropout"),
    (MUT2Cell, {"units": 3, "recurrent_dropout": -0.1}, "recurrent_dropout"),
])
def test_bad_arguments_raise(cls, kwargs, name):
    with pytest.raises(ValueError, match=rf"Expected .* Received: .*{name}="):
        cls(**kwargs)


@pytest.mark.parametrize("cls", [MUT1Cell, MUT2Cell])
def test_mut1_mut2_need_inputs_of_width_units(cls):
    with pytest.raises(ValueError, match=r"Expected inputs with `units`=3 .* Received: "):
        keras.layers.RNN(cls(3))(_inputs(4))
