"""Social LSTM's social pooling: the grid of neighbours' hidden states (and O-LSTM's occupancy
counts) against a loop-by-loop NumPy reference."""

import keras
import numpy as np
import pytest

from kerasseq.layers.social import OccupancyPooling, SocialPooling, social_grid_mask
from testing import run_layer_test


def _reference(positions, hidden, present, grid_size, neighborhood):
    """Alahi et al.'s eq. 1 pedestrian by pedestrian: H[b, i, m, n] = Σ_{j≠i} 1_mn[pⱼ − pᵢ] hⱼ."""
    batch, peds, units = hidden.shape
    half, cell = np.float32(neighborhood / 2), np.float32(neighborhood / grid_size)
    out = np.zeros((batch, peds, grid_size, grid_size, units), "float64")
    for b in range(batch):
        for i in range(peds):
            for j in range(peds):
                if i == j or not present[b, i] or not present[b, j]:
                    continue
                dx, dy = positions[b, j] - positions[b, i]  # float32, as the layer
                if abs(dx) >= half or abs(dy) >= half:
                    continue
                m, n = int(np.floor((dx + half) / cell)), int(np.floor((dy + half) / cell))
                out[b, i, m, n] += hidden[b, j]
    return out


def _scene(seed=0, neighborhood=2.0, grid_size=4):
    """Batch 2, 5 pedestrians: some absent, some out of each other's neighbourhood, and
    pedestrians 3 and 4 of the first scene in the same cell of pedestrian 0's grid."""
    rng = np.random.default_rng(seed)
    positions = rng.uniform(-1.6, 1.6, size=(2, 5, 2)).astype("float32")
    positions[0, 3] = positions[0, 0] + np.float32([0.37, -0.37])  # one cell of 0's grid
    positions[0, 4] = positions[0, 0] + np.float32([0.40, -0.40])  # (both test grids: 0.5 m)
    hidden = rng.normal(size=(2, 5, 3)).astype("float32")
    present = np.array([[1, 1, 0, 1, 1], [1, 1, 1, 1, 0]], bool)
    # The scene is what the test claims, and no offset is within float rounding of a border.
    offsets = positions[:, None, :, :] - positions[:, :, None, :]  # (2, 5, 5, 2)
    scaled = (offsets + neighborhood / 2) / (neighborhood / grid_size)
    others = ~np.eye(5, dtype=bool)[None]
    assert np.abs(scaled - np.round(scaled)).min(-1)[np.broadcast_to(others, (2, 5, 5))].min() > 1e-3
    outside = (np.abs(offsets) >= neighborhood / 2).any(-1)
    assert (outside & others & present[:, :, None] & present[:, None, :]).any()
    return positions, hidden, present


@pytest.mark.parametrize("grid_size, neighborhood", [(4, 2.0), (3, 1.5)])
def test_matches_the_loop_reference(grid_size, neighborhood):
    positions, hidden, present = _scene(neighborhood=neighborhood, grid_size=grid_size)
    expected = _reference(positions, hidden, present, grid_size, neighborhood)
    pooled = keras.ops.convert_to_numpy(
        SocialPooling(grid_size, neighborhood)([positions, hidden, present]))
    np.testing.assert_allclose(pooled, expected, atol=1e-5)
    # The scene exercises the sums: two neighbours share a cell of some pedestrian's grid.
    counts = _reference(positions, np.ones_like(hidden[..., :1]), present, grid_size, neighborhood)
    assert counts.max() == 2 and (counts == 1).any()
    occupancy = keras.ops.convert_to_numpy(OccupancyPooling(grid_size, neighborhood)([positions, present]))
    np.testing.assert_array_equal(occupancy, counts[..., 0])
    flat = keras.ops.convert_to_numpy(
        SocialPooling(grid_size, neighborhood, flatten=True)([positions, hidden, present]))
    np.testing.assert_array_equal(flat, pooled.reshape(2, 5, -1))
    # Under mixed_float16 the positions are still binned in float32: 100 m from the origin
    # (where float16 steps by 6 cm) the grid is the same; only the sums are float16.
    mixed = SocialPooling(grid_size, neighborhood, dtype="mixed_float16")(
        [positions + np.float32(100.0), hidden, present])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(mixed), expected, atol=1e-2)


def test_absent_pedestrians_neither_receive_nor_contribute():
    positions, hidden, present = _scene()
    # Absent rows hold garbage (NaN): it must not reach any output, not even as 0 · NaN.
    positions[~present] = np.nan
    hidden[~present] = np.nan
    pooled = keras.ops.convert_to_numpy(SocialPooling()([positions, hidden, present]))
    assert np.isfinite(pooled).all()
    assert not pooled[~present].any()
    for b in range(2):  # the same as the scene without them
        keep = present[b]
        alone = SocialPooling()([positions[b:b + 1, keep], hidden[b:b + 1, keep], present[b:b + 1, keep]])
        np.testing.assert_allclose(pooled[b, keep], keras.ops.convert_to_numpy(alone)[0], atol=1e-6)


def test_hand_built_scene_and_borders():
    # i at the origin, j 0.5 m along x: with 0.5 m cells j is in cell (m, n) = (3, 2) of i's
    # grid and i in cell (1, 2) of j's; k exactly on the outer border, l just inside it.
    positions = np.array([[[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [-0.99, 0.99]]], "float32")
    hidden = np.array([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0], [7.0, 7.0]]], "float32")
    present = np.ones((1, 4), bool)
    pooled = keras.ops.convert_to_numpy(SocialPooling(4, 2.0)([positions, hidden, present]))
    expected_i = np.zeros((4, 4, 2))
    expected_i[3, 2] = hidden[0, 1]
    expected_i[0, 3] = hidden[0, 3]
    np.testing.assert_array_equal(pooled[0, 0], expected_i)
    np.testing.assert_array_equal(pooled[0, 1, 1, 2], hidden[0, 0])
    mask = keras.ops.convert_to_numpy(social_grid_mask(positions, present, 4, 2.0))
    assert mask.shape == (1, 4, 4, 16) and mask.sum(-1).max() == 1
    assert np.argmax(mask[0, 0, 1]) == 3 * 4 + 2 and not mask[0, 0, 2].any() and not mask[0, 0, 0].any()


def test_trains_in_a_jit_compiled_model():
    positions, hidden, present = _scene()
    pos_in = keras.Input((5, 2))
    present_in = keras.Input((5,), dtype="bool")
    states = keras.layers.Dense(4, name="states")(pos_in)  # gradients reach it through the pool
    pooled = SocialPooling(flatten=True)([pos_in, states, present_in])
    model = keras.Model([pos_in, present_in], keras.layers.Dense(1)(pooled))
    model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=True)
    before = keras.ops.convert_to_numpy(model.get_layer("states").kernel)
    model.fit([positions, present], np.ones((2, 5, 1), "float32"), batch_size=2, verbose=0)
    after = keras.ops.convert_to_numpy(model.get_layer("states").kernel)
    assert np.isfinite(after).all() and not np.allclose(before, after)


@pytest.mark.parametrize("layer, kwargs, expected", [
    (SocialPooling, {"grid_size": 4, "neighborhood": 2.0, "flatten": False}, (2, 5, 4, 4, 3)),
    (SocialPooling, {"grid_size": 2, "neighborhood": 1.0, "flatten": True}, (2, 5, 12)),
    (OccupancyPooling, {"grid_size": 4, "neighborhood": 2.0, "flatten": False}, (2, 5, 4, 4)),
])
def test_layer_contract(layer, kwargs, expected, tmp_path):
    positions, hidden, present = _scene()
    inputs = [positions, hidden, present] if layer is SocialPooling else [positions, present]
    run_layer_test(layer, kwargs, inputs, expected_output_shape=expected,
                   expected_num_trainable_weights=0, run_fit=False, tmp_path=tmp_path)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="grid_size"):
        SocialPooling(grid_size=0)
    with pytest.raises(ValueError, match="grid_size"):
        OccupancyPooling(grid_size=2.5)
    with pytest.raises(ValueError, match="neighborhood"):
        SocialPooling(neighborhood=-1.0)
    with pytest.raises(ValueError, match="flatten"):
        SocialPooling(flatten="yes")
    positions, hidden, present = _scene()
    with pytest.raises(ValueError, match="positions"):
        SocialPooling()([np.zeros((2, 5, 3), "float32"), hidden, present])
    with pytest.raises(ValueError, match="positions, hidden, present"):
        SocialPooling()([positions, present])
