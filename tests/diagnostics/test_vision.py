"""Vision diagnostics: attention rollout against a NumPy reference of Abnar & Zuidema's
formula and a hand-computed case, the ViT's attention maps (shapes, rows that are
distributions, and the hidden states they are computed along equal the model's own
``features``, alone and inside a wrapper model), and the two pictures."""

import keras
import numpy as np
import pytest

from kerasseq.diagnostics import attention_rollout, find_vit, vit_attention_maps
from kerasseq.models.timm import features_model
from kerasseq.models.vit import build_vit
from kerasseq.plotting import plot_attention_rollout, plot_swin_windows

PNG = b"\x89PNG\r\n\x1a\n"
RNG = np.random.default_rng(0)


def random_attention(batch, heads, tokens):
    logits = RNG.normal(size=(batch, heads, tokens, tokens)) * 2.0
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_rollout(maps, prefix, discard_ratio=0.0):
    """The paper's form, image by image: A = 0.5 W + 0.5 I (rows of W sum to 1; after
    discarding, W + I with its rows renormalised), R = A_L ... A_1."""
    out = []
    for b in range(maps[0].shape[0]):
        tokens = maps[0].shape[-1]
        r = np.eye(tokens)
        for m in maps:
            w = m[b].mean(0)
            if discard_ratio:
                flat = w.flatten()
                flat[np.argsort(flat)[:int(flat.size * discard_ratio)]] = 0.0
                w = flat.reshape(w.shape)
                a = (w + np.eye(tokens)) / (w + np.eye(tokens)).sum(-1, keepdims=True)
            else:
                a = 0.5 * w + 0.5 * np.eye(tokens)
            r = a @ r
        out.append(r)
    return np.stack(out)


def test_rollout_by_hand():
    # one layer, one head, class token + 2 patches: A[0] = (0.5 [0.2, 0.3, 0.5] + 0.5 [1, 0, 0])
    weights = np.array([[[[0.2, 0.3, 0.5], [0.1, 0.8, 0.1], [0.0, 0.5, 0.5]]]])
    relevance = attention_rollout([weights], num_prefix_tokens=1, grid_size=(1, 2))
    np.testing.assert_allclose(relevance, [[[0.15, 0.25]]])
    # no class token: the mean of the patch rows of 0.5 [[0.8, 0.2], [0.4, 0.6]] + 0.5 I
    weights = np.array([[[[0.8, 0.2], [0.4, 0.6]]]])
    relevance = attention_rollout([weights], num_prefix_tokens=0, grid_size=(1, 2))
    np.testing.assert_allclose(relevance, [[[(0.9 + 0.2) / 2, (0.1 + 0.8) / 2]]])


@pytest.mark.parametrize("discard_ratio", [0.0, 0.3])
def test_rollout_matches_numpy_reference(discard_ratio):
    maps = [random_attention(2, 3, 1 + 6) for _ in range(3)]  # grid 2 x 3
    rollout = np_rollout(maps, 1, discard_ratio)
    token = attention_rollout(maps, 1, discard_ratio, grid_size=(2, 3))
    np.testing.assert_allclose(token, rollout[:, 0, 1:].reshape(2, 2, 3), rtol=1e-12)
    average = attention_rollout(maps, 1, discard_ratio, readout="avg", grid_size=(2, 3))
    np.testing.assert_allclose(average, rollout[:, 1:, 1:].mean(1).reshape(2, 2, 3), rtol=1e-12)
    assert not np.allclose(token, average)
    # the order of the layers matters (later layers on the left)
    assert not np.allclose(attention_rollout(maps[::-1], 1, discard_ratio, grid_size=(2, 3)), token)
    maps = [random_attention(2, 2, 9) for _ in range(2)]  # no class token, square grid 3 x 3
    relevance = attention_rollout(maps, 0, discard_ratio)
    np.testing.assert_allclose(relevance, np_rollout(maps, 0, discard_ratio).mean(1).reshape(2, 3, 3),
                               rtol=1e-12)


def test_rollout_errors():
    maps = [random_attention(1, 1, 5)]
    with pytest.raises(ValueError, match="readout"):
        attention_rollout(maps, 0, readout="token")
    with pytest.raises(ValueError, match="discard_ratio"):
        attention_rollout(maps, 1, discard_ratio=1.0)
    with pytest.raises(ValueError, match="grid_size"):
        attention_rollout(maps, 1, grid_size=(3, 2))


def tiny_vit(**overrides):
    keras.utils.set_random_seed(1)
    kwargs = dict(img_size=(8, 12), patch_size=4, num_classes=3, embed_dim=8, depth=2, num_heads=2)
    return build_vit(**{**kwargs, **overrides})


@pytest.mark.parametrize("overrides, prefix", [
    ({}, 1),
    # dropout everywhere: the maps must be taken at inference, as the model's predict
    (dict(attn_drop_rate=0.5, proj_drop_rate=0.5, pos_drop_rate=0.5, drop_path_rate=0.5), 1),
    (dict(class_token=False, global_pool="avg", pre_norm=True), 0),
])
def test_attention_maps_follow_the_models_own_hidden_states(overrides, prefix):
    model = tiny_vit(**overrides)
    images = RNG.normal(size=(3, 8, 12, 3)).astype("float32")
    maps, features = vit_attention_maps(model, images, return_features=True)
    tokens = prefix + 2 * 3
    assert len(maps) == 2
    for weights in maps:
        assert weights.shape == (3, 2, tokens, tokens) and weights.dtype == np.float32
        np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert not np.allclose(maps[0], maps[1])
    expected = keras.ops.convert_to_numpy(features_model(model)(images, training=False))
    assert features.shape == expected.shape == (3, tokens, 8)
    np.testing.assert_allclose(features, expected, atol=1e-5)
    relevance = attention_rollout(maps, prefix, grid_size=(2, 3))
    assert relevance.shape == (3, 2, 3) and (relevance > 0).all()


def test_attention_maps_of_a_wrapped_vit():
    """The image-classification task's model: Input -> Normalization -> ViT."""
    vit = tiny_vit()
    inputs = keras.Input((8, 12, 3))
    normalize = keras.layers.Normalization(mean=[100.0, 120.0, 90.0], variance=[900.0, 400.0, 2500.0])
    model = keras.Model(inputs, vit(normalize(inputs)))
    assert find_vit(model)[0] is vit and find_vit(vit) == (vit, None)
    images = RNG.uniform(0, 255, size=(2, 8, 12, 3)).astype("float32")
    maps, features = vit_attention_maps(model, images, return_features=True)
    normalised = keras.ops.convert_to_numpy(normalize(images))
    direct = vit_attention_maps(vit, normalised)
    for wrapped, alone in zip(maps, direct):
        np.testing.assert_allclose(wrapped, alone, atol=1e-6)
    expected = keras.ops.convert_to_numpy(features_model(vit)(normalised))
    np.testing.assert_allclose(features, expected, atol=1e-5)
    with pytest.raises(ValueError, match="kerasseq ViT"):
        vit_attention_maps(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]),
                           np.zeros((1, 4)))


def test_plot_attention_rollout(tmp_path):
    images = RNG.uniform(0, 255, size=(3, 16, 16, 1)).astype("uint8")
    relevance = RNG.uniform(size=(3, 4, 4))
    path = plot_attention_rollout(images, relevance, tmp_path / "rollout.png", titles=["a", "b", "c"])
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5000
    with pytest.raises(ValueError, match="relevance"):
        plot_attention_rollout(images, relevance[:2], tmp_path / "bad.png")


@pytest.mark.parametrize("size, window, shift", [(16, 4, 2), (8, (4, 2), (2, 1)), (4, 7, 3)])
def test_plot_swin_windows(tmp_path, size, window, shift):
    path = plot_swin_windows(size, size, window, shift, tmp_path / "windows.png")
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10000
