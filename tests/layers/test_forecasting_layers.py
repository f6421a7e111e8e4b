"""Forecasting layers against NumPy: RevIN's statistics and its norm/denorm round trip (also
for the last channels only, and inside a saved functional model), the edge-replicated moving
average of SeriesDecomposition, PatchTST's patch count and its encoder from its weights
(patching, BatchNorm post-norm, residual attention), and run_layer_test for each layer."""

import math

import keras
import numpy as np
import pytest

from kerasseq.layers import PatchTSTEncoder, ReversibleInstanceNorm, SeriesDecomposition, num_patches
from testing import run_layer_test

BATCH, TIME, CHANNELS = 3, 24, 4
SMALL_ENCODER = dict(patch_len=8, stride=4, d_model=8, num_heads=2, depth=2, ff_dim=16)


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _series(shape=(BATCH, TIME, CHANNELS), seed=0):
    rng = np.random.default_rng(seed)
    # per-channel offsets and scales, so that the statistics matter
    return (rng.normal(size=shape) * rng.uniform(0.5, 3, shape[-1]) + rng.normal(size=shape[-1]) * 5
            ).astype("float32")


def _unit_series(shape=(5, TIME), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _randomize(layer, seed=1):
    """Random values in every weight of ``layer`` (variances positive), so that errors show."""
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        if "variance" in weight.path:
            weight.assign(rng.uniform(0.5, 2.0, weight.shape))
        elif "affine_weight" in weight.path:
            weight.assign(rng.uniform(0.5, 2.0, weight.shape) * rng.choice([-1, 1], weight.shape))
        else:
            weight.assign(rng.normal(size=weight.shape) * 0.5)


# ------------------------------------------------------------------------------------ RevIN
def test_revin_matches_numpy_and_round_trips():
    x = _series()
    revin = ReversibleInstanceNorm()
    revin(x)
    _randomize(revin)
    normalised, mean, std = (_numpy(t) for t in revin(x))
    weight, bias = _numpy(revin.affine_weight), _numpy(revin.affine_bias)
    expected_mean = x.mean(1, keepdims=True)
    expected_std = np.sqrt(x.var(1, keepdims=True) + 1e-5)  # biased variance
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std, expected_std, rtol=1e-5)
    np.testing.assert_allclose(normalised, (x - expected_mean) / expected_std * weight + bias,
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_numpy(revin.denormalize(normalised, mean, std)), x,
                               rtol=1e-4, atol=1e-4)
    # a forecast of the last 2 channels uses those channels' statistics and weights
    np.testing.assert_allclose(_numpy(revin.denormalize(normalised[..., 2:], mean, std)),
                               x[..., 2:], rtol=1e-4, atol=1e-4)
    y = np.random.default_rng(2).normal(size=(BATCH, 5, 1)).astype("float32")
    np.testing.assert_allclose(_numpy(revin.denormalize(y, mean, std)),
                               (y - bias[3]) / (weight[3] + 1e-10) * expected_std[..., 3:]
                               + expected_mean[..., 3:], rtol=1e-4, atol=1e-4)


def test_revin_in_a_saved_functional_model(tmp_path):
    """Norm and denorm by one shared layer in a functional model: the output is the input's
    last channels again, before and after a .keras round trip (affine weights random)."""
    inputs = keras.Input((TIME, CHANNELS))
    revin = ReversibleInstanceNorm(name="revin")
    normalised, mean, std = revin(inputs)
    scaled = keras.layers.Rescaling(1.0, name="identity")(normalised[..., 1:])  # "the model"
    model = keras.Model(inputs, revin.denormalize(scaled, mean, std))
    _randomize(revin)
    x = _series()
    np.testing.assert_allclose(_numpy(model(x)), x[..., 1:], rtol=1e-4, atol=1e-4)
    model.save(tmp_path / "revin.keras")
    loaded = keras.saving.load_model(tmp_path / "revin.keras")
    np.testing.assert_allclose(_numpy(loaded.get_layer("revin").affine_weight),
                               _numpy(revin.affine_weight))
    np.testing.assert_allclose(_numpy(loaded(x)), x[..., 1:], rtol=1e-4, atol=1e-4)


def test_revin_arguments():
    with pytest.raises(ValueError, match="mode"):
        ReversibleInstanceNorm()(_series(), mode="inverse")
    with pytest.raises(ValueError, match="first call to normalise"):
        x = _series()
        ReversibleInstanceNorm()([x, x[:, :1], x[:, :1]], mode="denorm")
    with pytest.raises(ValueError, match="epsilon"):
        ReversibleInstanceNorm(epsilon=0.0)


@pytest.mark.parametrize("affine", [True, False])
def test_revin_layer_test(affine, tmp_path):
    shapes = [(BATCH, TIME, CHANNELS), (BATCH, 1, CHANNELS), (BATCH, 1, CHANNELS)]
    run_layer_test(ReversibleInstanceNorm, {"affine": affine, "epsilon": 1e-4}, _series(),
                   expected_output_shape=shapes, expected_num_trainable_weights=2 * affine,
                   run_fit=affine, tmp_path=tmp_path, atol=1e-5)


# ----------------------------------------------------------------------- SeriesDecomposition
@pytest.mark.parametrize("kernel_size", [5, 25])
def test_series_decomposition_matches_numpy(kernel_size):
    x = _series()
    seasonal, trend = (_numpy(t) for t in SeriesDecomposition(kernel_size)(x))
    half = (kernel_size - 1) // 2
    padded = np.pad(x, ((0, 0), (half, half), (0, 0)), mode="edge")  # repeats the end values
    expected = np.stack([padded[:, t:t + kernel_size].mean(1) for t in range(TIME)], axis=1)
    np.testing.assert_allclose(trend, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(seasonal, x - expected, rtol=1e-5, atol=1e-5)


def test_series_decomposition_layer_test(tmp_path):
    with pytest.raises(ValueError, match="odd"):
        SeriesDecomposition(4)
    run_layer_test(SeriesDecomposition, {"kernel_size": 7}, _series(),
                   expected_output_shape=[(BATCH, TIME, CHANNELS)] * 2,
                   expected_num_trainable_weights=0, run_fit=False, tmp_path=tmp_path)


# ---------------------------------------------------------------------------- PatchTST encoder
def test_patch_count():
    assert num_patches(336, 16, 8) == 42 and num_patches(512, 16, 8) == 64
    assert num_patches(24, 8, 4) == 6 and num_patches(25, 8, 4) == 6
    encoder = PatchTSTEncoder(16, 8, d_model=8, num_heads=2, depth=1, ff_dim=8)
    assert tuple(encoder(keras.Input((336,))).shape) == (None, 42, 8)
    with pytest.raises(ValueError, match="patch_len"):
        num_patches(12, 16, 8)


def test_patches_are_the_end_padded_unfold():
    x = np.arange(2 * 25, dtype="float32").reshape(2, 25)
    encoder = PatchTSTEncoder(**SMALL_ENCODER)
    encoder.build(x.shape)
    padded = np.concatenate([x, np.repeat(x[:, -1:], 4, axis=1)], axis=1)  # ReplicationPad1d
    expected = np.stack([padded[:, n * 4:n * 4 + 8] for n in range(6)], axis=1)  # unfold
    np.testing.assert_array_equal(_numpy(encoder.patches(x)), expected)


def _dense(layer, x):
    return x @ _numpy(layer.kernel) + _numpy(layer.bias)


def _batch_norm(layer, x):
    return ((x - _numpy(layer.moving_mean)) / np.sqrt(_numpy(layer.moving_variance) + layer.epsilon)
            * _numpy(layer.gamma) + _numpy(layer.beta))


def _softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


_erf = np.vectorize(math.erf)


def numpy_encoder(encoder, x):
    """The official TSTiEncoder at inference, from the layer's weights. Returns the output,
    the last layer's attention weights, and each layer's own (pre-residual) scores."""
    p, s, heads = encoder.patch_len, encoder.stride, encoder.num_heads
    padded = np.concatenate([x, np.repeat(x[:, -1:], s, axis=1)], axis=1)
    count = (x.shape[1] - p) // s + 2
    patches = np.stack([padded[:, n * s:n * s + p] for n in range(count)], axis=1)
    z = _dense(encoder.patch_embedding, patches) + _numpy(encoder.position_embedding)
    previous, own_scores = None, []

    def split(t):  # (batch, N, D) -> (batch, heads, N, D / heads)
        return t.reshape(*t.shape[:2], heads, -1).transpose(0, 2, 1, 3)

    for layer in encoder.encoder_layers:
        q, k, v = (split(_dense(d, z)) for d in (layer.query, layer.key, layer.value))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1])
        own_scores.append(scores)
        if encoder.residual_attention and previous is not None:
            scores = scores + previous
        weights = _softmax(scores)
        out = (weights @ v).transpose(0, 2, 1, 3).reshape(z.shape)
        z = _batch_norm(layer.attention_norm, z + _dense(layer.attention_output, out))
        hidden = _dense(layer.feedforward_intermediate, z)
        hidden = 0.5 * hidden * (1 + _erf(hidden / math.sqrt(2)))  # exact GELU
        z = _batch_norm(layer.feedforward_norm, z + _dense(layer.feedforward_output, hidden))
        previous = scores
    return z, weights, own_scores


@pytest.mark.parametrize("residual_attention", [True, False])
def test_encoder_matches_numpy(residual_attention):
    x = _unit_series()  # RevIN's output: moderate scores, float32 precision suffices
    encoder = PatchTSTEncoder(**SMALL_ENCODER, dropout=0.2, residual_attention=residual_attention)
    encoder(x)
    _randomize(encoder)
    out, weights = encoder(x, return_attention_scores=True)  # inference: no dropout
    expected, expected_weights, own = numpy_encoder(encoder, x.astype("float64"))
    np.testing.assert_allclose(_numpy(out), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_numpy(weights), expected_weights, atol=1e-5)
    np.testing.assert_allclose(_numpy(weights).sum(-1), 1.0, atol=1e-5)
    # Residual attention: the second layer's scores include the first's.
    with_first, alone = _softmax(own[1] + own[0]), _softmax(own[1])
    assert not np.allclose(with_first, alone, atol=1e-3)
    np.testing.assert_allclose(_numpy(weights), with_first if residual_attention else alone,
                               atol=1e-5)


def test_encoder_dropout_in_training_only():
    x = _unit_series()
    encoder = PatchTSTEncoder(**SMALL_ENCODER, dropout=0.5, seed=1, norm="layer")
    np.testing.assert_allclose(_numpy(encoder(x)), _numpy(encoder(x, training=False)))
    assert not np.allclose(_numpy(encoder(x, training=True)), _numpy(encoder(x)))


def test_encoder_arguments():
    with pytest.raises(ValueError, match="divisible"):
        PatchTSTEncoder(d_model=10, num_heads=4)
    with pytest.raises(ValueError, match="norm"):
        PatchTSTEncoder(norm="group")
    with pytest.raises(ValueError, match="univariate"):
        PatchTSTEncoder(**SMALL_ENCODER)(_series())


def test_encoder_torch_init_is_nn_linear_per_fan_in():
    """torch_init: every dense kernel and bias U(±1/√fan_in) with its own fan-in (the patch
    length, d_model, or ff_dim for the feed-forward output); the Keras default otherwise."""
    encoder = PatchTSTEncoder(**{**SMALL_ENCODER, "ff_dim": 64}, torch_init=True, seed=0)
    encoder(_unit_series())
    layer = encoder.encoder_layers[0]
    for dense, fan_in in ((encoder.patch_embedding, 8), (layer.query, 8),
                          (layer.feedforward_intermediate, 8), (layer.feedforward_output, 64)):
        bound = 1 / math.sqrt(fan_in)
        for weight in (dense.kernel, dense.bias):
            values = np.abs(_numpy(weight))
            assert values.max() <= bound and values.max() > bound / 2, (dense.name, fan_in)
    plain = PatchTSTEncoder(**SMALL_ENCODER, seed=0)
    plain(_unit_series())
    assert not np.any(_numpy(plain.encoder_layers[0].query.bias))  # zeros
    restored = PatchTSTEncoder.from_config(encoder.get_config())
    assert restored.torch_init and not PatchTSTEncoder.from_config(plain.get_config()).torch_init


def test_encoder_layer_test(tmp_path):
    # per layer: query/key/value/output, two norms (gamma, beta), two feed-forward dense;
    # plus the patch embedding and the position embedding; BatchNorm moving statistics.
    run_layer_test(PatchTSTEncoder, {**SMALL_ENCODER, "dropout": 0.1, "seed": 3, "torch_init": True},
                   _unit_series(), expected_output_shape=(5, 6, 8),
                   expected_num_trainable_weights=3 + 2 * 16,
                   expected_num_non_trainable_weights=2 * 4, tmp_path=tmp_path, atol=1e-5)
