"""The forecaster builders: the common contract (signature, shapes for all and for the last
channels), one fit step and a .keras round trip for every builder and head; DLinear against
NumPy from its weights (shared and individual); PatchTST's channel independence, patch count
and attention maps; RevIN's per-channel shift and scale equivariance."""

import inspect

import keras
import numpy as np
import pytest

from kerasseq.models import (FORECASTERS, build_dlinear, build_patchtst,
                             build_transformer_forecaster, patch_attention)

LENGTH, HORIZON, CHANNELS, BATCH = 32, 8, 3, 4
SMALL = {
    "dlinear": dict(kernel_size=5),
    # one encoder layer: the layer tests check the residual attention between layers
    "patchtst": dict(patch_len=8, stride=4, d_model=8, num_heads=2, depth=1, ff_dim=16),
    "transformer": dict(d_model=8, num_heads=2, depth=1, ff_dim=16),
}
# The JAX suite (CPU, compile-bound) trains DLinear and PatchTST; TensorFlow also both
# Transformer heads (the Transformer's blocks have their own JAX tests).
_TF_ONLY = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                              reason="trained on TensorFlow only (suite time)")
CASES = [("dlinear", {}), ("dlinear", {"individual": True}), ("patchtst", {}),
         pytest.param("transformer", {"head": "direct"}, marks=_TF_ONLY),
         pytest.param("transformer", {"head": "decoder"}, marks=_TF_ONLY)]


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _series(batch=BATCH, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, LENGTH, CHANNELS)).astype("float32")


def _build(name, targets=None, **kwargs):
    return FORECASTERS[name](LENGTH, HORIZON, CHANNELS, targets, **SMALL[name], **kwargs)


def test_registry_contract():
    for name, builder in FORECASTERS.items():
        parameters = inspect.signature(builder).parameters
        assert list(parameters)[:4] == ["input_length", "horizon", "channels", "targets"], name
        assert parameters["targets"].default is None and "name" in parameters, name
        assert all(p.kind is p.KEYWORD_ONLY for p in list(parameters.values())[4:]), name


@pytest.mark.parametrize("name, kwargs", CASES)
def test_builder_shapes_fit_and_save(name, kwargs, tmp_path):
    x = _series()
    assert _build(name, **kwargs).output_shape == (None, HORIZON, CHANNELS)  # symbolic: fast
    model = _build(name, targets=1, **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    before = [_numpy(w) for w in model.trainable_weights]
    y = np.random.default_rng(1).normal(size=(BATCH, HORIZON, 1)).astype("float32")
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    assert any(not np.allclose(a, _numpy(b)) for a, b in zip(before, model.trainable_weights))
    out = _numpy(model(x))
    assert out.shape == (BATCH, HORIZON, 1)
    model.save(tmp_path / "forecaster.keras")
    loaded = keras.saving.load_model(tmp_path / "forecaster.keras")
    np.testing.assert_allclose(_numpy(loaded(x)), out, atol=1e-5)


def test_builder_arguments():
    with pytest.raises(ValueError, match="targets"):
        build_dlinear(LENGTH, HORIZON, CHANNELS, 4)
    with pytest.raises(ValueError, match="horizon"):
        build_patchtst(LENGTH, 0, CHANNELS)
    with pytest.raises(ValueError, match="head"):
        build_transformer_forecaster(LENGTH, HORIZON, CHANNELS, head="rnn")


# ------------------------------------------------------------------------------------ DLinear
def _moving_average(x, kernel_size):
    half = (kernel_size - 1) // 2
    padded = np.pad(x, ((0, 0), (half, half), (0, 0)), mode="edge")
    return np.stack([padded[:, t:t + kernel_size].mean(1) for t in range(x.shape[1])], axis=1)


@pytest.mark.parametrize("individual", [False, True])
def test_dlinear_matches_numpy(individual):
    """The official forward pass: decompose, map seasonal and trend over time, sum; only the
    last 2 channels (the targets) are forecast."""
    model = build_dlinear(LENGTH, HORIZON, CHANNELS, 2, kernel_size=5, individual=individual)
    x = _series()
    trend = _moving_average(x[..., 1:], 5)  # (batch, L, 2)
    seasonal = x[..., 1:] - trend
    expected = 0.0
    for part, value in (("seasonal", seasonal), ("trend", trend)):
        kernel, bias = (_numpy(w) for w in model.get_layer(f"linear_{part}").weights)
        if individual:
            assert kernel.shape == (2, LENGTH, HORIZON) and bias.shape == (2, HORIZON)
            expected = expected + np.einsum("btc,cth->bhc", value, kernel) + bias.T
        else:
            assert kernel.shape == (LENGTH, HORIZON) and bias.shape == (HORIZON,)
            expected = expected + np.einsum("btc,th->bhc", value, kernel) + bias[:, None]
    np.testing.assert_allclose(_numpy(model(x)), expected, rtol=1e-5, atol=1e-5)
    bound = 1 / np.sqrt(LENGTH)  # PyTorch's nn.Linear initialisation
    assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > bound / 2


# ----------------------------------------------------------------------------------- PatchTST
def test_patchtst_defaults_and_patch_count():
    """PatchTST/42 on ETTh1: 336 steps in 42 patches, the official ETTh1 encoder."""
    model = build_patchtst(336, 96, 7)
    encoder = model.get_layer("patchtst_encoder")
    assert encoder.num_patches == 42
    assert (encoder.patch_len, encoder.stride, encoder.d_model, encoder.num_heads, encoder.depth,
            encoder.ff_dim, encoder.dropout) == (16, 8, 16, 4, 3, 128, 0.3)
    assert model.get_layer("head").kernel.shape == (16 * 42, 96)
    assert model.output_shape == (None, 96, 7)
    # The official run_longExp.py: RevIN without affine weights (--affine 0), nn.Linear's
    # initialisation in the encoder; --affine 1 gives the per-channel weight and bias.
    assert not model.get_layer("revin").weights and encoder.torch_init
    affine = build_patchtst(336, 96, 7, revin_affine=True).get_layer("revin")
    assert [w.shape for w in affine.weights] == [(7,), (7,)]


def test_patchtst_channels_are_independent_and_attention_maps():
    model = _build("patchtst")
    x = _series()
    changed = x.copy()
    changed[..., 0] = np.random.default_rng(5).normal(size=changed[..., 0].shape)
    out, out_changed = _numpy(model(x)), _numpy(model(changed))
    np.testing.assert_allclose(out_changed[..., 1:], out[..., 1:], atol=1e-5)
    assert not np.allclose(out_changed[..., 0], out[..., 0], atol=1e-3)

    weights, weights_changed = patch_attention(model, x), patch_attention(model, changed)
    patches = (LENGTH - 8) // 4 + 2
    assert weights.shape == (BATCH, CHANNELS, 2, patches, patches)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(weights_changed[:, 1:], weights[:, 1:], atol=1e-6)
    assert not np.allclose(weights_changed[:, 0], weights[:, 0], atol=1e-4)


# -------------------------------------------------------------------------------------- RevIN
@pytest.mark.parametrize("name, kwargs", [("patchtst", {}), ("transformer", {"head": "decoder"})])
def test_revin_makes_forecasts_shift_and_scale_equivariant(name, kwargs):
    """x' = a x + b per channel gives y' = a y + b on the forecast (last 2) channels with
    RevIN, and not without it."""
    x = _series()
    a = np.array([0.5, 3.0, 7.0], "float32")
    b = np.array([-4.0, 10.0, 2.0], "float32")
    model = _build(name, targets=2, **kwargs)
    np.testing.assert_allclose(_numpy(model(a * x + b)), a[1:] * _numpy(model(x)) + b[1:],
                               rtol=1e-3, atol=1e-3)
    plain = _build(name, targets=2, revin=False, **kwargs)
    assert not np.allclose(_numpy(plain(a * x + b)), a[1:] * _numpy(plain(x)) + b[1:], atol=1e-2)


@pytest.mark.parametrize("name", ["dlinear", "patchtst"])
def test_quantile_heads_are_the_point_head_per_level(name):
    """With each level's head columns set to the point model's, every quantile forecast is the
    point forecast: the H · Q outputs are laid out step-major and de-normalised per channel."""
    x = _series()
    point = _build(name, targets=2)
    quantile = _build(name, targets=2, quantiles=(0.1, 0.5, 0.9))
    assert quantile.output_shape == (None, HORIZON, 2, 3)
    for layer in point.layers:
        weights = layer.get_weights()
        if layer.name in ("head", "linear_seasonal", "linear_trend"):
            weights = [np.repeat(w, 3, axis=-1) for w in weights]
        quantile.get_layer(layer.name).set_weights(weights)
    expected = _numpy(point(x))
    out = _numpy(quantile(x))
    for k in range(3):
        np.testing.assert_allclose(out[..., k], expected, atol=1e-5)


def test_with_revin_makes_any_forecaster_follow_the_windows_scale(tmp_path):
    from kerasseq.models import build_tdnn, with_revin

    model = with_revin(build_tdnn(LENGTH, HORIZON, CHANNELS, 1, filters=4, depth=1))
    x = _series()
    y = _numpy(model(x))
    np.testing.assert_allclose(_numpy(model(3 * x + 5)), 3 * y + 5, atol=1e-4)
    model.save(tmp_path / "revin.keras")
    np.testing.assert_allclose(_numpy(keras.saving.load_model(tmp_path / "revin.keras")(x)), y, atol=1e-5)
