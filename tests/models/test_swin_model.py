"""Swin and Swin V2 builders: exact numerics against timm 1.0.31 (the shared fixtures), the
timm parameter mapping and its errors, the named configurations, training and .keras
round trips of small models."""

import os

import keras
import numpy as np
import pytest
from safetensors.numpy import load_file

from conftest import timm_fixture
from kerasseq.models import SWIN_CONFIGS, build_swin, build_swinv2, swin
from kerasseq.models.swin import model_from_timm_kwargs, timm_parameters
from kerasseq.models.timm import assign_timm_state, features_model, from_timm

pytestmark = pytest.mark.filterwarnings(
    # features_model rebuilds the graph from model.inputs (a list) and is called with one tensor
    "ignore:The structure of `inputs` doesn't match:UserWarning")

# The first two stages of the fixtures' models (same shapes: cheaper on JAX, which compiles
# per shape): shifted windows with a mask, patch merging, then shifted windows again.
SMALL = dict(img_size=64, patch_size=4, embed_dim=16, depths=(2, 2), num_heads=(1, 2),
             window_size=4, num_classes=10, drop_path_rate=0.1)


@pytest.fixture(scope="module", params=["swin", "swinv2"])
def timm_case(request):
    config, weights_path, io = timm_fixture(request.param)
    return request.param, config, weights_path, io


def test_matches_timm_logits_and_features(timm_case):
    name, config, weights_path, io = timm_case
    model = from_timm(config["timm_class"], config["kwargs"], weights_path)
    logits = keras.ops.convert_to_numpy(model(io["images_nhwc"]))
    features = keras.ops.convert_to_numpy(features_model(model)(io["images_nhwc"]))
    assert features.shape == io["features"].shape == (3, 2, 2, 128)
    logits_error = np.abs(logits - io["logits"]).max()
    features_error = np.abs(features - io["features"]).max()
    print(f"{name} on {keras.backend.backend()}: max-abs logits {logits_error:.2e}, "
          f"features {features_error:.2e}")
    assert logits_error < 1e-4 and features_error < 1e-4
    assert np.abs(io["logits"]).max() > 0.5  # the reference is not trivially small


def test_parameter_mapping_covers_state_and_model(timm_case):
    name, config, weights_path, _ = timm_case
    model = model_from_timm_kwargs(config["timm_class"].rsplit(".", 1)[-1], config["kwargs"])
    parameters = timm_parameters(model, config["timm_class"].rsplit(".", 1)[-1])
    assert set(parameters) == set(load_file(os.fspath(weights_path)))
    mapped = [id(v) for targets in parameters.values() for v, _ in targets]
    assert sorted(mapped) == sorted(id(v) for v in model.weights)  # each weight exactly once
    # the clamped last stage (2 x 2 map, window 4 -> 2, no shift) as timm sizes it
    last = model.get_layer("layers.3.blocks.1")
    assert last.window == (2, 2) and last.shift == (0, 0) and last._mask is None
    assert model.get_layer("layers.0.blocks.1").shift == (2, 2)
    assert model.get_layer("layers.2.blocks.1").shift == (0, 0)  # 4 x 4 map, window 4


@pytest.fixture(scope="module")
def swin_model_and_state():
    config, weights_path, _ = timm_fixture("swin")
    model = model_from_timm_kwargs("SwinTransformer", config["kwargs"])
    return model, timm_parameters(model, "SwinTransformer"), load_file(os.fspath(weights_path))


def test_missing_unknown_and_renamed_parameters_are_named(swin_model_and_state):
    _, parameters, state = swin_model_and_state
    missing = {k: v for k, v in state.items() if k != "layers.1.downsample.reduction.weight"}
    with pytest.raises(ValueError, match=r"missing parameters \['layers.1.downsample.reduction.weight'\]"):
        assign_timm_state(parameters, missing)
    extra = {**state, "layers.0.blocks.0.attn.extra": np.zeros(3)}
    with pytest.raises(ValueError, match=r"unknown parameters \['layers.0.blocks.0.attn.extra'\]"):
        assign_timm_state(parameters, extra)
    renamed = {("norm.gamma" if k == "norm.weight" else k): v for k, v in state.items()}
    with pytest.raises(ValueError, match=r"missing parameters \['norm.weight'\]; unknown parameters \['norm.gamma'\]"):
        assign_timm_state(parameters, renamed)
    # buffers timm recomputes may be in a state_dict: ignored, as we recompute them too
    assign_timm_state(parameters, {**state, "layers.0.blocks.1.attn_mask": np.zeros((16, 16, 16)),
                                   "layers.0.blocks.0.attn.relative_position_index": np.zeros((16, 16))})


def test_shape_mismatch_is_named(swin_model_and_state):
    _, parameters, state = swin_model_and_state
    bad = {**state, "layers.0.blocks.0.attn.relative_position_bias_table": np.zeros((9, 1), "float32")}
    with pytest.raises(ValueError, match=r"'layers.0.blocks.0.attn.relative_position_bias_table' of shape \(9, 1\)"):
        assign_timm_state(parameters, bad)


def test_unsupported_timm_arguments_are_named():
    with pytest.raises(ValueError, match="global_pool='max'.*head_dim=8|head_dim=8.*global_pool='max'"):
        model_from_timm_kwargs("SwinTransformer", {**SMALL, "global_pool": "max", "head_dim": 8})
    with pytest.raises(ValueError, match="pretrained_window_sizes"):
        model_from_timm_kwargs("SwinTransformer", {**SMALL, "pretrained_window_sizes": (0, 0)})
    with pytest.raises(ValueError, match=r"Received: embed_dim=\[16, 32\]"):
        model_from_timm_kwargs("SwinTransformer", {**SMALL, "embed_dim": [16, 32]})
    with pytest.raises(ValueError, match="pretrained_window_sizes=\\(0,\\)"):
        build_swinv2(**{**SMALL, "pretrained_window_sizes": (0,)})
    with pytest.raises(ValueError, match="timm_class"):
        model_from_timm_kwargs("SwinTransformerV3", SMALL)
    model = model_from_timm_kwargs("SwinTransformerV2", {**SMALL, "global_pool": "avg",
                                                          "pretrained_window_sizes": (0, 4)})
    assert model.get_layer("layers.1.blocks.0").attn.pretrained_window_size == 4
    with pytest.raises(ValueError, match="Expected a SwinTransformer model"):
        timm_parameters(model, "SwinTransformer")


@pytest.mark.parametrize("builder, train", [(build_swin, True), (build_swinv2, False)])
def test_small_model_trains_and_round_trips(builder, train, tmp_path):
    """One training step through a whole model (V1; each V2 layer trains in its layer test,
    and the builder is shared) and a .keras round trip of each family."""
    kwargs = dict(SMALL, seed=0)
    if builder is build_swinv2:
        kwargs["pretrained_window_sizes"] = (0, 8)
    model = builder(**kwargs)
    images = np.random.default_rng(0).normal(size=(3, 64, 64, 3)).astype("float32")
    assert model.get_layer("features").output.shape == (None, 8, 8, 32)
    if train:
        model.compile(optimizer=keras.optimizers.SGD(0.01),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        before = keras.ops.convert_to_numpy(model.get_layer("layers.0.blocks.1").attn.qkv.kernel)
        history = model.fit(images, np.array([1, 3, 9]), batch_size=3, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        after = keras.ops.convert_to_numpy(model.get_layer("layers.0.blocks.1").attn.qkv.kernel)
        assert not np.allclose(before, after)

    path = tmp_path / "swin.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(images)),
                               keras.ops.convert_to_numpy(model(images)), atol=1e-5)
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]


def test_drop_path_grows_linearly():
    model = build_swin(**dict(SMALL, drop_path_rate=0.3))
    rates = [model.get_layer(f"layers.{i}.blocks.{j}").drop_path_rate for i in range(2) for j in range(2)]
    np.testing.assert_allclose(rates, [0.0, 0.1, 0.2, 0.3])


# timm's parameter counts of the ImageNet models (timm results tables: 28.29M, 49.61M, 87.77M,
# 28.35M); the V2 count is V1-tiny's + 61,488 (cosine attention and CPB instead of the bias
# tables) - 2,688 (LayerNorm(2C) instead of LayerNorm(4C) in patch merging).
TIMM_PARAMETERS = {"swin_tiny_patch4_window7_224": 28_288_354, "swin_small_patch4_window7_224": 49_606_258,
                   "swin_base_patch4_window7_224": 87_768_224, "swinv2_tiny_window8_256": 28_347_154}


@pytest.mark.skipif(keras.backend.backend() == "jax",
                    reason="JAX compiles an initializer per weight shape: ~30 s for these four "
                           "ImageNet-size models on 2 cores; the builders are the same code")
@pytest.mark.parametrize("name", sorted(SWIN_CONFIGS))
def test_named_configurations_are_timms(name):
    """Full size (built, not run): timm's parameter count, input and output shapes."""
    model = swin(name)
    size = SWIN_CONFIGS[name].get("img_size", 224)
    assert model.name == name and model.input_shape == (None, size, size, 3)
    assert model.output_shape == (None, 1000)
    assert model.get_layer("features").output.shape == (None, size // 32, size // 32,
                                                        8 * SWIN_CONFIGS[name]["embed_dim"])
    assert model.count_params() == TIMM_PARAMETERS[name]


def test_unknown_configuration():
    with pytest.raises(ValueError, match="swin_huge"):
        swin("swin_huge")
