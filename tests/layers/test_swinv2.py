"""Swin V2 layers: the log-spaced coordinates, scaled cosine attention with its clamped logit
scale and continuous position bias, the post-norm block and reduce-then-norm merging,
against NumPy references written from timm's code; the layer contract for each."""

import math

import keras
import numpy as np
import pytest

from kerasseq.layers import PatchMergingV2, SwinV2Block, WindowAttentionV2, relative_coords_table
from testing import run_layer_test

RNG = np.random.default_rng(1)


def normal(*shape, scale=1.0):
    return (RNG.normal(size=shape) * scale).astype("float32")


def weights(layer):
    return {v.path.split("/", 1)[-1]: keras.ops.convert_to_numpy(v) for v in layer.weights}


def randomize(layer, scale=0.5):
    for v in layer.weights:
        base = 1.0 if v.path.endswith("gamma") else math.log(10) if v.path.endswith("logit_scale") else 0
        v.assign(normal(*v.shape, scale=scale) + base)


def np_layer_norm(x, gamma, beta, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps) * gamma + beta


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def np_coords(wh, ww, ph=0, pw=0):
    """timm's relative_coords_table, one offset at a time, in float64."""
    rows = []
    for dy in range(-(wh - 1), wh):
        for dx in range(-(ww - 1), ww):
            y, x = dy / ((ph or wh) - 1) * 8, dx / ((pw or ww) - 1) * 8
            rows.append([np.sign(v) * math.log2(abs(v) + 1) / 3 for v in (y, x)])
    return np.array(rows)


def np_attention_v2(x, w, heads, wh, ww, pretrained=(0, 0), mask=None):
    """x (B, nW, N, C), timm's WindowAttention (v2) written out."""
    b, nw, n, c = x.shape
    d = c // heads
    qkv = x @ w["qkv/kernel"] + np.concatenate([w["q_bias"], np.zeros(c), w["v_bias"]])
    qkv = qkv.reshape(b, nw, n, 3, heads, d)
    q, k, v = (qkv[:, :, :, i].transpose(0, 1, 3, 2, 4) for i in range(3))
    qn = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
    kn = k / np.maximum(np.linalg.norm(k, axis=-1, keepdims=True), 1e-12)
    logits = qn @ kn.swapaxes(-1, -2) * np.exp(np.minimum(w["logit_scale"], math.log(100)))
    table = np.maximum(np_coords(wh, ww, *pretrained) @ w["cpb_mlp_0/kernel"] + w["cpb_mlp_0/bias"], 0)
    table = table @ w["cpb_mlp_2/kernel"]  # (T, heads)
    bias = np.zeros((heads, n, n))
    for i in range(n):
        for j in range(n):
            dy, dx = i // ww - j // ww, i % ww - j % ww
            bias[:, i, j] = table[(dy + wh - 1) * (2 * ww - 1) + dx + ww - 1]
    logits = logits + 16 / (1 + np.exp(-bias))
    if mask is not None:
        logits = logits + mask[None, :, None]
    out = (np_softmax(logits) @ v).transpose(0, 1, 3, 2, 4).reshape(b, nw, n, c)
    return out @ w["proj/kernel"] + w["proj/bias"]


@pytest.mark.parametrize("window, pretrained", [((4, 4), 0), ((2, 3), 0), ((4, 4), (8, 8))])
def test_relative_coords_table_matches_timm(window, pretrained):
    table = relative_coords_table(window, pretrained)
    expected = np_coords(*window, *((0, 0) if pretrained == 0 else pretrained))
    assert table.dtype == np.float32 and table.shape == expected.shape
    np.testing.assert_allclose(table, expected, atol=1e-6)
    if pretrained == 0:  # the window's own corners map to +-8 -> +-log2(9)/3
        np.testing.assert_allclose(np.abs(table).max(), math.log2(9) / 3, rtol=1e-6)


def test_window_attention_v2_matches_numpy():
    heads, (wh, ww), c = 2, (2, 2), 4
    layer = WindowAttentionV2(num_heads=heads, window_size=(wh, ww), pretrained_window_size=3)
    x = normal(2, 3, wh * ww, c)
    layer.build(x.shape)
    randomize(layer)
    layer.logit_scale.assign(np.array([6.0, 1.5], "float32").reshape(2, 1, 1))  # head 0 clamped
    mask = np.where(RNG.random((3, 4, 4)) < 0.3, -100.0, 0.0).astype("float32")
    got = keras.ops.convert_to_numpy(layer(x, attention_mask=mask))
    np.testing.assert_allclose(got, np_attention_v2(x, weights(layer), heads, wh, ww, (3, 3), mask),
                               atol=5e-5)
    # without the clamp, head 0 would be scaled by e^6 instead of 100
    assert "relative_position_bias_table" not in weights(layer)
    assert layer.logit_scale.shape == (heads, 1, 1)


@pytest.mark.parametrize("shift", [0, 1])
def test_swinv2_block_is_post_norm(shift):
    block = SwinV2Block(num_heads=2, window_size=2, shift_size=shift, mlp_ratio=2.0)
    x = normal(2, 4, 4, 4)
    block.build(x.shape)
    randomize(block)
    w = weights(block)
    attn = {k[len("attn/"):]: v for k, v in w.items() if k.startswith("attn/")}
    y = np.roll(x, (-shift, -shift), axis=(1, 2))
    windows = y.reshape(2, 2, 2, 2, 2, 4).transpose(0, 1, 3, 2, 4, 5).reshape(2, 4, 4, 4)
    mask = None
    if shift:
        labels = np.array([0, 0, 1, 2])[:, None] * 3 + np.array([0, 0, 1, 2])[None, :]  # timm's regions
        lw = labels.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(4, 4)
        mask = np.where(lw[:, None, :] != lw[:, :, None], -100.0, 0.0)
    out = np_attention_v2(windows, attn, 2, 2, 2, mask=mask)
    y = out.reshape(2, 2, 2, 2, 2, 4).transpose(0, 1, 3, 2, 4, 5).reshape(2, 4, 4, 4)
    y = np.roll(y, (shift, shift), axis=(1, 2))
    h = x + np_layer_norm(y, w["norm1/gamma"], w["norm1/beta"])
    m = np_gelu(h @ w["mlp_fc1/kernel"] + w["mlp_fc1/bias"]) @ w["mlp_fc2/kernel"] + w["mlp_fc2/bias"]
    expected = h + np_layer_norm(m, w["norm2/gamma"], w["norm2/beta"])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(block(x)), expected, atol=5e-5)


def test_patch_merging_v2_reduces_then_normalises():
    layer = PatchMergingV2()
    x = normal(2, 4, 4, 3)
    layer.build(x.shape)
    randomize(layer)
    w = weights(layer)
    merged = np.concatenate([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
    expected = np_layer_norm(merged @ w["reduction/kernel"], w["norm/gamma"], w["norm/beta"])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, atol=2e-5)
    assert w["norm/gamma"].shape == (6,)  # LayerNorm(2C), after the reduction


def test_window_attention_v2_contract(tmp_path):
    run_layer_test(WindowAttentionV2, {"num_heads": 2, "window_size": 2, "pretrained_window_size": 4,
                                       "attention_dropout": 0.1, "seed": 1},
                   normal(2, 3, 4, 4), expected_output_shape=(2, 3, 4, 4),
                   expected_num_trainable_weights=9, tmp_path=tmp_path, atol=1e-5)


def test_swinv2_block_contract(tmp_path):
    run_layer_test(SwinV2Block, {"num_heads": 2, "window_size": 2, "shift_size": 1, "mlp_ratio": 2.0,
                                 "drop_path": 0.1, "pretrained_window_size": 4, "seed": 1},
                   normal(2, 4, 4, 4), expected_output_shape=(2, 4, 4, 4),
                   expected_num_trainable_weights=17, tmp_path=tmp_path, atol=1e-5)


def test_patch_merging_v2_contract(tmp_path):
    run_layer_test(PatchMergingV2, {}, normal(2, 4, 6, 3), expected_output_shape=(2, 2, 3, 6),
                   expected_num_trainable_weights=3, tmp_path=tmp_path, atol=1e-5)


def test_constructor_checks():
    with pytest.raises(ValueError, match="Received: pretrained_window_size=-1"):
        WindowAttentionV2(2, 4, pretrained_window_size=-1)
    with pytest.raises(ValueError, match="Received: pretrained_window_size="):
        SwinV2Block(2, 4, pretrained_window_size=(1, 2, 3))
    with pytest.raises(ValueError, match="shift_size"):
        SwinV2Block(2, 4, shift_size=5)
