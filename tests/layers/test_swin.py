"""Swin V1 layers: window helpers, relative-position index and shifted-window mask against
NumPy re-implementations of timm's code; WindowAttention, SwinBlock and PatchMerging against
NumPy references of their math; the layer contract for each."""

import math

import keras
import numpy as np
import pytest

from kerasseq.layers import (PatchMerging, SwinBlock, WindowAttention, relative_position_index,
                             shifted_window_mask, shifted_window_regions, window_partition,
                             window_reverse)
from kerasseq.layers.swin import calc_window_shift
from testing import run_layer_test

RNG = np.random.default_rng(0)


def normal(*shape, scale=1.0):
    return (RNG.normal(size=shape) * scale).astype("float32")


def weights(layer):
    return {v.path.split("/", 1)[-1]: keras.ops.convert_to_numpy(v) for v in layer.weights}


# ---- NumPy references (straightforward loops, after timm's code) ----

def np_partition(x, wh, ww):
    """(B, H, W, C) -> (B * nW, wh, ww, C), one window at a time."""
    b, h, w, _ = x.shape
    return np.stack([x[i, r:r + wh, c:c + ww] for i in range(b)
                     for r in range(0, h, wh) for c in range(0, w, ww)])


def np_reverse(windows, wh, ww, h, w):
    out = np.zeros((len(windows) // ((h // wh) * (w // ww)), h, w, windows.shape[-1]), windows.dtype)
    k = 0
    for i in range(len(out)):
        for r in range(0, h, wh):
            for c in range(0, w, ww):
                out[i, r:r + wh, c:c + ww] = windows[k]
                k += 1
    return out


def np_timm_regions(h, w, wh, ww, sh, sw):
    """timm's construction of the region labels: 3 x 3 slices of an image, counted."""
    img = np.zeros((1, h, w, 1), "float32")
    cnt = 0
    for hs in (slice(0, -wh), slice(-wh, -sh), slice(-sh, None)):
        for ws in (slice(0, -ww), slice(-ww, -sw), slice(-sw, None)):
            img[:, hs, ws, :] = cnt
            cnt += 1
    return img


def np_timm_mask(h, w, wh, ww, sh, sw):
    """timm's construction: label 3 x 3 slices of an image, partition, compare labels."""
    windows = np_partition(np_timm_regions(h, w, wh, ww, sh, sw), wh, ww).reshape(-1, wh * ww)
    diff = windows[:, None, :] - windows[:, :, None]
    return np.where(diff != 0, -100.0, 0.0).astype("float32")


def np_layer_norm(x, gamma, beta, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def np_window_attention(x, w, heads, wh, ww, mask=None):
    """x (B, nW, N, C); w: the layer's weights by path."""
    b, nw, n, c = x.shape
    d = c // heads
    qkv = x @ w["qkv/kernel"] + w["qkv/bias"]
    qkv = qkv.reshape(b, nw, n, 3, heads, d)
    q, k, v = (qkv[:, :, :, i].transpose(0, 1, 3, 2, 4) for i in range(3))  # (b, nW, h, N, d)
    logits = (q * d ** -0.5) @ k.swapaxes(-1, -2)
    bias = np.zeros((heads, n, n), "float32")
    for i in range(n):
        for j in range(n):
            dy, dx = i // ww - j // ww, i % ww - j % ww
            bias[:, i, j] = w["relative_position_bias_table"][(dy + wh - 1) * (2 * ww - 1) + dx + ww - 1]
    logits = logits + bias
    if mask is not None:
        logits = logits + mask[None, :, None]
    out = (np_softmax(logits) @ v).transpose(0, 1, 3, 2, 4).reshape(b, nw, n, c)
    return out @ w["proj/kernel"] + w["proj/bias"]


def np_swin_block(x, w, heads, wh, ww, sh, sw):
    _, h, wd, c = x.shape
    y = np_layer_norm(x, w["norm1/gamma"], w["norm1/beta"])
    y = np.roll(y, (-sh, -sw), axis=(1, 2))
    windows = np_partition(y, wh, ww).reshape(len(x), -1, wh * ww, c)
    mask = np_timm_mask(h, wd, wh, ww, sh, sw) if sh or sw else None
    attn = {k[len("attn/"):]: v for k, v in w.items() if k.startswith("attn/")}
    windows = np_window_attention(windows, attn, heads, wh, ww, mask)
    y = np.roll(np_reverse(windows.reshape(-1, wh, ww, c), wh, ww, h, wd), (sh, sw), axis=(1, 2))
    x = x + y
    y = np_layer_norm(x, w["norm2/gamma"], w["norm2/beta"])
    y = np_gelu(y @ w["mlp_fc1/kernel"] + w["mlp_fc1/bias"]) @ w["mlp_fc2/kernel"] + w["mlp_fc2/bias"]
    return x + y


def randomize(layer, scale=0.5):
    """Weights at a scale where a wrong index, mask or order shows."""
    for v in layer.weights:
        v.assign(normal(*v.shape, scale=scale) + (1.0 if v.path.endswith("gamma") else 0.0))


# ---- helpers ----

@pytest.mark.parametrize("window", [4, (2, 3)])
def test_window_partition_and_reverse_match_numpy(window):
    x = normal(2, 8, 12, 3)
    wh, ww = (window, window) if isinstance(window, int) else window
    windows = keras.ops.convert_to_numpy(window_partition(x, window))
    np.testing.assert_array_equal(windows, np_partition(x, wh, ww))
    back = keras.ops.convert_to_numpy(window_reverse(windows, window, 8, 12))
    np.testing.assert_array_equal(back, x)
    np.testing.assert_array_equal(back, np_reverse(windows, wh, ww, 8, 12))


@pytest.mark.parametrize("window", [(7, 7), (2, 3), (1, 1)])
def test_relative_position_index_matches_definition(window):
    wh, ww = window
    index = relative_position_index(window)
    n = wh * ww
    expected = np.array([[(i // ww - j // ww + wh - 1) * (2 * ww - 1) + (i % ww - j % ww + ww - 1)
                          for j in range(n)] for i in range(n)])
    np.testing.assert_array_equal(index, expected)
    assert index.min() == 0 and index.max() == (2 * wh - 1) * (2 * ww - 1) - 1
    assert index[0, 0] == (wh - 1) * (2 * ww - 1) + ww - 1  # zero offset: the table's centre


@pytest.mark.parametrize("h, w, window, shift", [
    (8, 8, (4, 4), (2, 2)), (16, 8, (4, 4), (2, 2)), (6, 9, (3, 3), (1, 1)),
    (8, 8, (4, 4), (0, 2)), (8, 8, (4, 4), (0, 0)), (4, 6, (2, 3), (1, 1))])
def test_shifted_window_regions_and_mask_match_timm_construction(h, w, window, shift):
    regions = shifted_window_regions(h, w, window, shift)
    assert regions.shape == (h, w)
    np.testing.assert_array_equal(regions, np_timm_regions(h, w, *window, *shift)[0, :, :, 0])
    mask = shifted_window_mask(h, w, window, shift)
    expected = np_timm_mask(h, w, *window, *shift)
    assert mask.dtype == np.float32 and mask.shape == expected.shape
    np.testing.assert_array_equal(mask, expected)
    if shift == (0, 0):
        assert not mask.any()
    else:
        assert (mask == -100).any() and not mask[0].any()  # the top-left window is whole


def test_window_and_shift_are_clamped_as_timm():
    assert calc_window_shift((16, 16), 4, 2) == ((4, 4), (2, 2))
    assert calc_window_shift((4, 4), 4, 2) == ((4, 4), (0, 0))  # resolution == window
    assert calc_window_shift((2, 2), 4, 2) == ((2, 2), (0, 0))  # resolution < window
    assert calc_window_shift((8, 2), 4, 2) == ((4, 2), (2, 0))  # per axis


# ---- layers against NumPy ----

def test_window_attention_matches_numpy_with_mask():
    heads, (wh, ww), c = 2, (2, 3), 4
    layer = WindowAttention(num_heads=heads, window_size=(wh, ww))
    x = normal(2, 4, wh * ww, c)
    layer.build(x.shape)
    randomize(layer)
    mask = np.where(RNG.random((4, 6, 6)) < 0.3, -100.0, 0.0).astype("float32")
    got = keras.ops.convert_to_numpy(layer(x, attention_mask=mask))
    np.testing.assert_allclose(got, np_window_attention(x, weights(layer), heads, wh, ww, mask),
                               atol=2e-5)
    unmasked = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(unmasked, np_window_attention(x, weights(layer), heads, wh, ww),
                               atol=2e-5)
    assert layer.relative_position_bias_table.shape == (3 * 5, heads)


@pytest.mark.parametrize("shape, window, shift, expected_window, expected_shift", [
    ((2, 8, 8, 4), 4, 2, (4, 4), (2, 2)),   # shifted windows with a mask
    ((2, 8, 8, 4), 4, 0, (4, 4), (0, 0)),   # plain windows
    ((1, 4, 4, 4), 7, 3, (4, 4), (0, 0)),   # clamped: one window, no shift
])
def test_swin_block_matches_numpy(shape, window, shift, expected_window, expected_shift):
    block = SwinBlock(num_heads=2, window_size=window, shift_size=shift, mlp_ratio=2.0)
    x = normal(*shape)
    block.build(x.shape)
    randomize(block)
    assert (block.window, block.shift) == (expected_window, expected_shift)
    assert (block._mask is None) == (expected_shift == (0, 0))  # made in build, once
    table_rows = (2 * expected_window[0] - 1) * (2 * expected_window[1] - 1)
    assert block.attn.relative_position_bias_table.shape == (table_rows, 2)
    got = keras.ops.convert_to_numpy(block(x))
    np.testing.assert_allclose(got, np_swin_block(x, weights(block), 2, *expected_window,
                                                  *expected_shift), atol=5e-5)


def test_shift_changes_the_output():
    x = normal(1, 8, 8, 4)
    plain, shifted = SwinBlock(2, 4, 0), SwinBlock(2, 4, 2)
    plain.build(x.shape), shifted.build(x.shape)
    shifted.set_weights(plain.get_weights())
    assert np.abs(keras.ops.convert_to_numpy(plain(x) - shifted(x))).max() > 1e-3


@pytest.mark.parametrize("h, w", [(4, 6), (5, 3)])
def test_patch_merging_matches_numpy(h, w):
    layer = PatchMerging()
    x = normal(2, h, w, 3)
    layer.build(x.shape)
    randomize(layer)
    wt = weights(layer)
    p = np.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
    merged = np.concatenate([p[:, 0::2, 0::2], p[:, 1::2, 0::2], p[:, 0::2, 1::2], p[:, 1::2, 1::2]], -1)
    expected = np_layer_norm(merged, wt["norm/gamma"], wt["norm/beta"]) @ wt["reduction/kernel"]
    got = keras.ops.convert_to_numpy(layer(x))
    assert got.shape == (2, (h + 1) // 2, (w + 1) // 2, 6)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    assert not layer.reduction.use_bias


# ---- the layer contract ----

def test_window_attention_contract(tmp_path):
    run_layer_test(WindowAttention, {"num_heads": 2, "window_size": 2, "attention_dropout": 0.1,
                                     "dropout": 0.1, "seed": 1},
                   normal(2, 3, 4, 4), expected_output_shape=(2, 3, 4, 4),
                   expected_num_trainable_weights=5, tmp_path=tmp_path, atol=1e-5)


def test_swin_block_contract(tmp_path):
    run_layer_test(SwinBlock, {"num_heads": 2, "window_size": 2, "shift_size": 1, "mlp_ratio": 2.0,
                               "drop_path": 0.1, "dropout": 0.1, "seed": 1},
                   normal(2, 4, 4, 4), expected_output_shape=(2, 4, 4, 4),
                   expected_num_trainable_weights=13, tmp_path=tmp_path, atol=1e-5)


def test_patch_merging_contract(tmp_path):
    run_layer_test(PatchMerging, {"units": 5}, normal(2, 4, 6, 3),
                   expected_output_shape=(2, 2, 3, 5), expected_num_trainable_weights=3,
                   tmp_path=tmp_path, atol=1e-5)


@pytest.mark.parametrize("cls, kwargs, name", [
    (WindowAttention, {"num_heads": 0}, "num_heads"),
    (WindowAttention, {"num_heads": 2, "window_size": (2, 0)}, "window_size"),
    (WindowAttention, {"num_heads": 2, "dropout": 1.0}, "dropout"),
    (SwinBlock, {"num_heads": 2, "window_size": 4, "shift_size": 4}, "shift_size"),
    (SwinBlock, {"num_heads": 2, "drop_path": -0.1}, "drop_path"),
    (SwinBlock, {"num_heads": 2, "mlp_ratio": 0}, "mlp_ratio"),
    (PatchMerging, {"units": 0}, "units"),
])
def test_constructor_checks(cls, kwargs, name):
    with pytest.raises(ValueError, match=f"Received: .*{name}="):
        cls(**kwargs)


def test_build_checks_shapes():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        WindowAttention(3, 2).build((None, 4, 4))
    with pytest.raises(ValueError, match="divisible by the window"):
        SwinBlock(2, 4).build((None, 6, 6, 4))
    with pytest.raises(ValueError, match="static height"):
        SwinBlock(2, 4).build((None, None, None, 4))
