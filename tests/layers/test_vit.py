"""ViT layers: the patch embedding and the pooling against NumPy, the class token and position
embeddings (resampled to a new grid as PyTorch's antialiased bicubic, which timm uses; the
identity on the grid they were built for), stochastic depth in the encoder block, and
run_layer_test for every layer."""

import keras
import numpy as np
import pytest

from kerasseq.layers import (ClassTokenPositionEmbedding, PatchEmbedding, TokenPooling,
                             TransformerEncoderBlock)
from kerasseq.layers.vit import interpolation_matrix
from testing import run_layer_test


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _normal(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


# ----------------------------------------------------------------------------- references
def numpy_patch_embedding(images, kernel, bias, patch):
    """Cut (batch, H, W, C) into row-major P_h×P_w patches, flatten each as (P_h, P_w, C) and
    project: (batch, grid_h * grid_w, D)."""
    batch, height, width, channels = images.shape
    grid_h, grid_w = height // patch[0], width // patch[1]
    x = images[:, :grid_h * patch[0], :grid_w * patch[1]]
    x = x.reshape(batch, grid_h, patch[0], grid_w, patch[1], channels).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(batch, grid_h * grid_w, -1) @ kernel.reshape(-1, kernel.shape[-1]) + bias


def _cubic(t, a=-0.5):
    t = np.abs(t)
    return np.where(t < 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                    np.where(t < 2, (((t - 5) * t + 8) * t - 4) * a, 0.0))


def antialiased_bicubic_matrix(size_in, size_out):
    """(size_out, size_in) weights of PyTorch's ``interpolate(mode="bicubic",
    antialias=True)`` along one axis (as PIL: Keys a = -0.5, the kernel widened by the scale
    when downsampling, the weights of the in-range pixels renormalised); checked against
    PyTorch to 1e-14 when this test was written."""
    scale = size_in / size_out
    support = 2.0 * max(scale, 1.0)
    matrix = np.zeros((size_out, size_in))
    for i in range(size_out):
        center = (i + 0.5) * scale
        lo, hi = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), size_in)
        weights = _cubic((np.arange(lo, hi) - center + 0.5) / max(scale, 1.0))
        matrix[i, lo:hi] = weights / weights.sum()
    return matrix


def numpy_resample(pos_embed, grid, new_grid, prefix):
    """timm's ``resample_abs_pos_embed``: the patch part resampled as a (grid_h, grid_w, D)
    image, the prefix (class token) part kept."""
    patches = pos_embed[0, prefix:].reshape(*grid, -1)
    patches = np.einsum("ah,bw,hwc->abc", antialiased_bicubic_matrix(grid[0], new_grid[0]),
                        antialiased_bicubic_matrix(grid[1], new_grid[1]), patches)
    return np.concatenate([pos_embed[0, :prefix], patches.reshape(-1, patches.shape[-1])])[None]


# ------------------------------------------------------------------------ patch embedding
@pytest.mark.parametrize("patch, size", [((4, 4), (8, 12)), ((2, 3), (7, 9))])
def test_patch_embedding_matches_numpy(patch, size):
    images = _normal(2, *size, 3)
    layer = PatchEmbedding(patch, 5)
    out = _numpy(layer(images))
    kernel, bias = (_numpy(w) for w in layer.weights)
    assert kernel.shape == (*patch, 3, 5)
    np.testing.assert_allclose(out, numpy_patch_embedding(images, kernel, bias, patch), atol=1e-5)
    grid = _numpy(PatchEmbedding(patch, 5, flatten=False)(images))
    assert grid.shape == (2, size[0] // patch[0], size[1] // patch[1], 5)


def test_patch_embedding_rejects_bad_arguments():
    with pytest.raises(ValueError, match="patch_size"):
        PatchEmbedding(0, 4)
    with pytest.raises(ValueError, match="embed_dim"):
        PatchEmbedding(4, 0)


def test_patch_embedding_contract(tmp_path):
    run_layer_test(PatchEmbedding, {"patch_size": 2, "embed_dim": 6}, _normal(2, 4, 6, 3),
                   expected_output_shape=(2, 6, 6), expected_num_trainable_weights=2,
                   tmp_path=tmp_path)


# ------------------------------------------------------- class token, position embeddings
def test_class_token_and_positions_match_numpy():
    grid = _normal(2, 3, 4, 6)
    layer = ClassTokenPositionEmbedding()
    out = _numpy(layer(grid))
    cls, pos = _numpy(layer.cls_token), _numpy(layer.pos_embed)
    assert cls.shape == (1, 1, 6) and pos.shape == (1, 13, 6)
    expected = np.concatenate([np.repeat(cls, 2, 0), grid.reshape(2, 12, 6)], 1) + pos
    np.testing.assert_allclose(out, expected, atol=1e-6)

    no_cls = ClassTokenPositionEmbedding(class_token=False)
    out = _numpy(no_cls(grid))
    assert not hasattr(no_cls, "cls_token") and len(no_cls.weights) == 1
    np.testing.assert_allclose(out, grid.reshape(2, 12, 6) + _numpy(no_cls.pos_embed), atol=1e-6)


@pytest.mark.parametrize("class_token", [True, False])
@pytest.mark.parametrize("new_grid", [(6, 6), (5, 7), (2, 3)], ids=["up", "mixed", "down"])
def test_positions_are_resampled_to_a_new_grid_as_timm(class_token, new_grid):
    """A layer built for a 4×4 grid (e.g. 224 px) run on another grid (e.g. 384 px): the patch
    positions resampled as timm does, the class-token position kept."""
    layer = ClassTokenPositionEmbedding(class_token=class_token)
    layer(_normal(1, 4, 4, 5))
    pos = _numpy(layer.pos_embed).astype("float64")
    pos_new = numpy_resample(pos, (4, 4), new_grid, int(class_token))
    images = _normal(2, *new_grid, 5, seed=1)
    out = _numpy(layer(images))
    prefix = int(class_token)
    assert out.shape == (2, prefix + new_grid[0] * new_grid[1], 5)
    tokens = images.reshape(2, -1, 5)
    if class_token:
        tokens = np.concatenate([np.repeat(_numpy(layer.cls_token), 2, 0), tokens], 1)
        np.testing.assert_allclose(out[:, 0] - tokens[:, 0], np.repeat(pos[:, 0], 2, 0), atol=1e-6)
    np.testing.assert_allclose(out, tokens + pos_new, atol=1e-5)


def test_positions_unchanged_on_the_built_grid():
    layer = ClassTokenPositionEmbedding()
    layer(_normal(1, 3, 3, 4))
    np.testing.assert_array_equal(_numpy(layer.resampled_positions((3, 3))), _numpy(layer.pos_embed))
    # resampling to the same size (the path of a grid known only at run time) is the identity
    np.testing.assert_allclose(_numpy(interpolation_matrix(3, 3)), np.eye(3), atol=1e-6)


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
@pytest.mark.parametrize("size_in, size_out", [(4, 7), (7, 3), (5, 5)])
def test_interpolation_matrix_is_keras_antialiased_resize(interpolation, size_in, size_out):
    image = _normal(1, size_in, 2, 3)
    resized = keras.ops.image.resize(image, (size_out, 2), interpolation=interpolation,
                                     antialias=True, data_format="channels_last")
    matrix = _numpy(interpolation_matrix(size_in, size_out, interpolation))
    np.testing.assert_allclose(np.einsum("ah,nhwc->nawc", matrix, image), _numpy(resized), atol=1e-5)
    if interpolation == "bicubic":
        np.testing.assert_allclose(matrix, antialiased_bicubic_matrix(size_in, size_out), atol=1e-6)


def test_position_embedding_rejects_bad_arguments():
    with pytest.raises(ValueError, match="interpolation"):
        ClassTokenPositionEmbedding(interpolation="nearest")
    with pytest.raises(ValueError, match="grid"):
        ClassTokenPositionEmbedding()(_normal(2, 5, 4))


def test_position_embedding_contract(tmp_path):
    run_layer_test(ClassTokenPositionEmbedding, {"class_token": True, "interpolation": "bilinear"},
                   _normal(2, 2, 3, 4), expected_output_shape=(2, 7, 4),
                   expected_num_trainable_weights=2, tmp_path=tmp_path)


# --------------------------------------------------------------------------------- pooling
def test_token_pooling_matches_numpy():
    tokens = _normal(2, 5, 3)
    np.testing.assert_allclose(_numpy(TokenPooling("token")(tokens)), tokens[:, 0])
    np.testing.assert_allclose(_numpy(TokenPooling("avg", 1)(tokens)), tokens[:, 1:].mean(1), atol=1e-6)
    np.testing.assert_allclose(_numpy(TokenPooling("avg", 0)(tokens)), tokens.mean(1), atol=1e-6)
    with pytest.raises(ValueError, match="pool"):
        TokenPooling("max")
    with pytest.raises(ValueError, match="num_prefix_tokens"):
        TokenPooling("token", 0)


def test_token_pooling_contract(tmp_path):
    run_layer_test(TokenPooling, {"pool": "avg", "num_prefix_tokens": 1}, _normal(2, 5, 3),
                   expected_output_shape=(2, 3), expected_num_trainable_weights=0,
                   run_fit=False, tmp_path=tmp_path)


# -------------------------------------------------------- the ViT block: stochastic depth
VIT_BLOCK = dict(num_heads=2, intermediate_dim=16, activation="gelu", norm_first=True,
                 layer_norm_epsilon=1e-6)


def test_block_drop_path_is_inactive_at_inference_and_drops_whole_branches_in_training():
    x = _normal(64, 3, 8)
    plain = TransformerEncoderBlock(**VIT_BLOCK)
    dropping = TransformerEncoderBlock(**VIT_BLOCK, drop_path=0.5, seed=3)
    plain(x), dropping(x)
    dropping.set_weights(plain.get_weights())
    np.testing.assert_allclose(_numpy(dropping(x, training=False)), _numpy(plain(x)), atol=1e-6)
    # training: each sample's branches are dropped (x unchanged by that branch) or kept (scaled
    # by 2); with both branches dropped the block is the identity for that sample
    out = _numpy(dropping(x, training=True))
    identity = np.all(np.abs(out - x) < 1e-6, axis=(1, 2))
    assert 0 < identity.sum() < len(x)
    with pytest.raises(ValueError, match="drop_path"):
        TransformerEncoderBlock(**VIT_BLOCK, drop_path=1.0)


def test_vit_block_contract(tmp_path):
    run_layer_test(TransformerEncoderBlock, {**VIT_BLOCK, "drop_path": 0.2, "seed": 1},
                   _normal(2, 5, 8), expected_output_shape=(2, 5, 8),
                   expected_num_trainable_weights=16, tmp_path=tmp_path, atol=1e-5)
