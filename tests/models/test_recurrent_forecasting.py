"""The recurrent/time-delay forecasters: every registry entry forward, backward and through
.keras; the training models fit, and the forecaster built from them (also after save/load)
is their closed loop; the TDNN sees exactly its receptive field (TF and JAX)."""

from functools import partial

import keras
import numpy as np
import pytest

from kerasseq.models import (RECURRENT_FORECASTERS, build_narx, build_rnn_forecaster, build_tdnn,
                             forecaster_from_training_model)
from kerasseq.models.recurrent_forecasting import tdnn_receptive_field

L, H, C = 16, 4, 3
SMALL = {"narx": {"units": 8}, "tdnn": {"filters": 8}, "lstm": {"units": 8}, "gru": {"units": 8}}
TRAINING = {"narx": partial(build_narx, units=8, target_delays=3, input_delays=1),
            "lstm": partial(build_rnn_forecaster, cell="lstm", units=8),
            "gru_depth2": partial(build_rnn_forecaster, cell="gru", units=8, depth=2, dropout=0.1)}


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _series(steps=L, batch=4, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, steps, C)).astype("float32")


def _fit_one_step(model, inputs, targets):
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [_np(w) for w in model.trainable_weights]
    history = model.fit(inputs, targets, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(not np.allclose(a, _np(b)) for a, b in zip(before, model.trainable_weights))


@pytest.mark.parametrize("name", sorted(RECURRENT_FORECASTERS))
@pytest.mark.parametrize("targets", [None, 1])
def test_every_forecaster_maps_history_to_the_horizon(name, targets):
    model = RECURRENT_FORECASTERS[name](L, H, C, targets, **SMALL[name])
    assert len(model.inputs) == 1 and tuple(model.inputs[0].shape) == (None, L, C)
    out = _np(model(_series()))
    assert out.shape == (4, H, targets or C) and np.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(RECURRENT_FORECASTERS))
def test_every_forecaster_trains_and_round_trips(name, tmp_path):
    keras.utils.set_random_seed(0)
    model = RECURRENT_FORECASTERS[name](L, H, C, 1, **SMALL[name])
    x, y = _series(), _series(H, seed=1)[..., -1:]
    _fit_one_step(model, x, y)
    model.save(tmp_path / "f.keras")
    np.testing.assert_allclose(_np(keras.saving.load_model(tmp_path / "f.keras")(x)), _np(model(x)),
                               atol=1e-5)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.skipif(
    n == "gru_depth2" and keras.backend.backend() != "tensorflow",
    reason="depth 2 on TensorFlow only (JAX suite time)")) for n in sorted(TRAINING)])
def test_the_forecaster_of_a_saved_training_model_is_its_closed_loop(name, tmp_path):
    keras.utils.set_random_seed(0)
    train = TRAINING[name](L, H, C, 1, teacher_forcing=True, name=name)
    assert train.name == f"{name}_teacher_forcing"
    assert [tuple(i.shape) for i in train.inputs] == [(None, L, C), (None, H, C)]
    assert tuple(train.outputs[0].shape) == (None, H, 1)
    x, future = _series(), _series(H, seed=1)
    _fit_one_step(train, [x, future], future[..., -1:])

    forecaster = forecaster_from_training_model(train)
    assert forecaster.name == name and len(forecaster.inputs) == 1
    forecast = _np(forecaster(x))
    assert forecast.shape == (4, H, 1)
    # Teacher forcing on its own forecast (exogenous channels held) gives the forecast back.
    own = np.concatenate([np.repeat(x[:, -1:, :2], H, axis=1), forecast], axis=-1)
    np.testing.assert_allclose(_np(train([x, own])), forecast, atol=1e-5)
    # ... and on the true future it does not (the two modes differ where they should).
    assert not np.allclose(_np(train([x, future])), forecast, atol=1e-3)

    train.save(tmp_path / "train.keras")
    loaded = forecaster_from_training_model(keras.saving.load_model(tmp_path / "train.keras"))
    np.testing.assert_allclose(_np(loaded(x)), forecast, atol=1e-5)
    forecaster.save(tmp_path / "forecaster.keras")
    np.testing.assert_allclose(_np(keras.saving.load_model(tmp_path / "forecaster.keras")(x)),
                               forecast, atol=1e-5)
    # The builder's forecaster is the same architecture: the trained weights fit it.
    built = TRAINING[name](L, H, C, 1, name=name)
    built.set_weights(forecaster.get_weights())
    np.testing.assert_allclose(_np(built(x)), forecast, atol=1e-5)


def test_the_direct_head_is_its_own_training_model():
    model = build_rnn_forecaster(L, H, C, 2, cell="gru", units=8, depth=2, head="direct",
                                 teacher_forcing=True, dropout=0.1)
    assert len(model.inputs) == 1 and tuple(model.outputs[0].shape) == (None, H, 2)
    assert forecaster_from_training_model(model) is model


@pytest.mark.parametrize("kernel_size,dilated,field", [(3, False, 7), (2, True, 8), (3, True, 15)])
def test_tdnn_sees_exactly_its_receptive_field(kernel_size, dilated, field):
    """The head reads the last n = min(L, R) steps, each of which saw R inputs: the forecast
    moves with the last n + R - 1 inputs and with no earlier one."""
    assert tdnn_receptive_field(kernel_size, 3, dilated) == field
    keras.utils.set_random_seed(1)
    steps = 24
    model = build_tdnn(steps, H, C, 1, filters=8, kernel_size=kernel_size, depth=3,
                       dilated=dilated, dropout=0.0)
    x = _series(steps, batch=1)
    perturbed = np.repeat(x, steps + 1, axis=0)
    perturbed[np.arange(steps), np.arange(steps)] += 1.0  # row s moves step s; the last row is x
    out = _np(model(perturbed))
    moved = [not np.allclose(out[s], out[-1], atol=1e-7) for s in range(steps)]
    seen = min(steps, min(steps, field) + field - 1)
    assert moved == [s >= steps - seen for s in range(steps)]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="head"):
        build_rnn_forecaster(L, H, C, head="attention")
    with pytest.raises(ValueError, match="cell"):
        build_rnn_forecaster(L, H, C, cell="tcn", head="direct")
    with pytest.raises(ValueError, match="targets"):
        build_narx(L, H, C, 4)
    with pytest.raises(ValueError, match="horizon"):
        build_tdnn(L, 0, C)
    with pytest.raises(ValueError, match="kernel_size"):
        build_tdnn(L, H, C, kernel_size=0)
    history, future = keras.Input((L, C)), keras.Input((H, C))
    other = keras.Model([history, future], keras.layers.Concatenate(axis=1)([history, future]))
    with pytest.raises(ValueError, match="narx_core"):
        forecaster_from_training_model(other)
