"""The ViT builder: timm 1.0.31's VisionTransformer reproduced to 1e-4 from its state_dict
(logits and forward_features), average pooling with fc_norm, the loader's errors, a model built
at one image size run at another, dropout and stochastic depth off at inference, .keras round
trip, and every named configuration (forward, backward, serialization, timm's parameter count)."""

import keras
import numpy as np
import pytest
from conftest import timm_fixture

import kerasseq.models.timm as timm
from kerasseq.models import VIT_CONFIGS, build_vit, vit
from kerasseq.models.vit import model_from_timm_kwargs, timm_parameters

# the fixture's sizes (fewer blocks), so that on JAX the tests reuse the compiled operations
SMALL = dict(img_size=32, patch_size=4, num_classes=10, embed_dim=64, depth=2, num_heads=4)


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _images(size=32, batch=3, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, size, size, 3)).astype("float32")


def _random_state(model, seed=0):
    """A timm state_dict for ``model`` with unit-variance values (so that errors show)."""
    rng = np.random.default_rng(seed)
    shapes = {}
    for name, targets in timm_parameters(model).items():
        variable, _ = targets[0]
        shapes[name] = _torch_shape(name, tuple(variable.shape))
    return {name: rng.normal(size=shape).astype("float32") for name, shape in shapes.items()}


def _torch_shape(name, shape):
    """The PyTorch shape of the timm parameter that fills a Keras variable of `shape`."""
    if name.endswith("qkv.weight"):
        return (3 * shape[1] * shape[2], shape[0])
    if name.endswith("qkv.bias"):
        return (3 * shape[0] * shape[1],)
    if name.endswith("proj.weight") and len(shape) == 3:
        return (shape[2], shape[0] * shape[1])
    if name.endswith("proj.weight"):  # the patch embedding's conv
        return (shape[3], shape[2], shape[0], shape[1])
    if len(shape) == 2:  # Linear
        return shape[::-1]
    return shape


def _layer_norm(x, layer):
    gamma, beta = _numpy(layer.gamma), _numpy(layer.beta)
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-6) * gamma + beta


# ------------------------------------------------------------------------------ timm numerics
def test_matches_timm_vision_transformer():
    config, weights_path, io = timm_fixture("vit")
    model = timm.from_timm(config["timm_class"], config["kwargs"], weights_path)
    logits = _numpy(model(io["images_nhwc"]))
    features = _numpy(timm.features_model(model)(io["images_nhwc"]))
    assert features.shape == io["features"].shape == (3, 65, 64)
    logits_error = np.abs(logits - io["logits"]).max()
    features_error = np.abs(features - io["features"]).max()
    print(f"max-abs error vs timm: logits {logits_error:.2e}, features {features_error:.2e}")
    assert logits_error < 1e-4 and features_error < 1e-4


def test_every_timm_parameter_has_a_place():
    config, weights_path, _ = timm_fixture("vit")
    model = model_from_timm_kwargs("VisionTransformer", config["kwargs"])
    state = timm.read_state(weights_path)
    assert set(timm_parameters(model)) == set(state)
    # every trainable variable of the model is filled from the checkpoint
    filled = {id(v) for targets in timm_parameters(model).values() for v, _ in targets}
    assert filled == {id(v) for v in model.trainable_variables}


def test_average_pooling_uses_fc_norm_as_timm():
    """global_pool="avg": forward_features has no final norm; logits = head(fc_norm(mean of
    the patch tokens))."""
    model = build_vit(**SMALL, global_pool="avg")
    names = {layer.name for layer in model.layers}
    assert "fc_norm" in names and "norm" not in names
    parameters = timm_parameters(model)
    assert "fc_norm.weight" in parameters and "norm.weight" not in parameters
    timm.assign_timm_state(parameters, _random_state(model))
    images = _images()
    features = _numpy(timm.features_model(model)(images))
    pooled = _layer_norm(features[:, 1:].mean(1), model.get_layer("fc_norm"))
    head = model.get_layer("head")
    np.testing.assert_allclose(_numpy(model(images)), pooled @ _numpy(head.kernel) + _numpy(head.bias),
                               atol=1e-4)


def test_without_class_token():
    model = build_vit(**SMALL, global_pool="avg", class_token=False)
    parameters = timm_parameters(model)
    assert "cls_token" not in parameters and parameters["pos_embed"][0][0].shape == (1, 64, 64)
    assert _numpy(timm.features_model(model)(_images())).shape == (3, 64, 64)
    with pytest.raises(ValueError, match="class_token"):
        build_vit(**SMALL, class_token=False)  # global_pool="token" needs it


def test_token_pooling_reads_the_normalised_class_token():
    model = build_vit(**SMALL)
    timm.assign_timm_state(timm_parameters(model), _random_state(model))
    images = _images()
    features = _numpy(timm.features_model(model)(images))
    head = model.get_layer("head")
    np.testing.assert_allclose(_numpy(model(images)),
                               features[:, 0] @ _numpy(head.kernel) + _numpy(head.bias), atol=1e-4)


# ------------------------------------------------------------------------------ loader errors
def test_loader_errors_name_the_parameter():
    model = build_vit(**SMALL)
    parameters = timm_parameters(model)
    state = _random_state(model)
    missing = {k: v for k, v in state.items() if k != "blocks.1.attn.qkv.bias"}
    with pytest.raises(ValueError, match=r"missing parameters \['blocks.1.attn.qkv.bias'\]"):
        timm.assign_timm_state(parameters, missing)
    with pytest.raises(ValueError, match=r"unknown parameters \['blocks.2.norm1.weight'\]"):
        timm.assign_timm_state(parameters, {**state, "blocks.2.norm1.weight": np.ones(64, "float32")})
    wrong = {**state, "blocks.0.mlp.fc1.weight": np.ones((256, 65), "float32")}
    with pytest.raises(ValueError, match="'blocks.0.mlp.fc1.weight' of shape"):
        timm.assign_timm_state(parameters, wrong)
    wrong = {**state, "blocks.0.attn.qkv.weight": np.ones((200, 64), "float32")}
    with pytest.raises(ValueError, match="'blocks.0.attn.qkv.weight' of shape"):
        timm.assign_timm_state(parameters, wrong)


def test_unsupported_timm_arguments_are_named():
    with pytest.raises(ValueError, match="init_values=0.1.*reg_tokens=4"):
        model_from_timm_kwargs("VisionTransformer", {**SMALL, "init_values": 0.1, "reg_tokens": 4})
    with pytest.raises(ValueError, match="no_such_argument"):
        model_from_timm_kwargs("VisionTransformer", {**SMALL, "no_such_argument": 1})
    with pytest.raises(ValueError, match="timm_class"):
        model_from_timm_kwargs("SwinTransformer", SMALL)
    # timm's defaults of features this port lacks, and init-only arguments, are accepted
    model = model_from_timm_kwargs("VisionTransformer", {**SMALL, "qk_norm": False,
                                                         "weight_init": "jax"})
    assert model.output.shape == (None, 10)
    with pytest.raises(ValueError, match="global_pool"):
        build_vit(**SMALL, global_pool="map")
    with pytest.raises(ValueError, match="qkv_bias"):
        build_vit(**SMALL, qkv_bias=False)


# -------------------------------------------------------------------------- image sizes, I/O
def test_model_built_at_one_size_runs_at_another():
    static = build_vit(**SMALL)
    dynamic = build_vit(**SMALL, dynamic_img_size=True)
    dynamic.set_weights(static.get_weights())
    images = _images(32)
    np.testing.assert_allclose(dynamic.predict(images, verbose=0), static.predict(images, verbose=0),
                               atol=1e-5)
    assert timm.features_model(dynamic).predict(_images(48), verbose=0).shape == (3, 1 + 144, 64)
    # compiled prediction at several sizes (TensorFlow relaxes the traced shape to unknown)
    for size in (48, 40):
        assert dynamic.predict(_images(size), verbose=0).shape == (3, 10)


def test_dropout_and_drop_path_are_inactive_at_inference():
    rates = dict(drop_rate=0.5, pos_drop_rate=0.5, proj_drop_rate=0.5, attn_drop_rate=0.5,
                 drop_path_rate=0.5)
    plain, dropping = build_vit(**SMALL), build_vit(**SMALL, **rates, seed=1)
    dropping.set_weights(plain.get_weights())
    images = _images()
    logits = _numpy(plain(images))
    np.testing.assert_allclose(_numpy(dropping(images)), logits, atol=1e-5)
    np.testing.assert_allclose(_numpy(dropping(images, training=False)), logits, atol=1e-5)
    # the rates do act in training: a compiled train step (learning rate 0) reports the loss of
    # the dropped-out forward pass, not the loss of the inference logits
    labels = np.array([0, 2, 9])
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    inference_loss = -log_softmax[np.arange(3), labels].mean()
    dropping.compile(optimizer=keras.optimizers.SGD(0.0),
                     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert abs(float(dropping.train_on_batch(images, labels)) - inference_loss) > 1e-3
    # timm's linear rule: block i of n drops with rate drop_path_rate * i / (n - 1)
    assert [dropping.get_layer(f"blocks_{i}").drop_path for i in range(2)] == [0.0, 0.5]


def test_keras_round_trip(tmp_path):
    model = build_vit(**SMALL, dynamic_img_size=True, global_pool="avg", drop_path_rate=0.1)
    images = _images()
    path = tmp_path / "vit.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for images in (_images(32), _images(48)):
        np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0),
                                   atol=1e-6)


def test_mixed_precision_and_jit_compile():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = build_vit(**SMALL)
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.get_layer("pos_embed").pos_embed.dtype == "float32"
    assert "float16" in str(model(_images()).dtype)
    model = build_vit(**SMALL)
    model.compile(jit_compile=True)
    np.testing.assert_allclose(model.predict(_images(), verbose=0), _numpy(model(_images())), atol=1e-5)


# -------------------------------------------------------------------- named configurations
def _timm_parameter_count(embed_dim, patch_size, img_size, num_classes, depth, mlp_ratio=4.0):
    """timm's VisionTransformer parameter count (class token, token pooling)."""
    d, hidden, tokens = embed_dim, int(embed_dim * mlp_ratio), (img_size // patch_size) ** 2
    patch = 3 * patch_size ** 2 * d + d
    block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * hidden + hidden) + (hidden * d + d)
    return patch + d + (1 + tokens) * d + depth * block + 2 * d + d * num_classes + num_classes


def test_parameter_count_formula_gives_timms_counts():
    """timm's counts of its vit_tiny/small/base_patch16_224 (the formula is checked against the
    built models in test_named_configurations)."""
    assert _timm_parameter_count(192, 16, 224, 1000, 12) == 5_717_416
    assert _timm_parameter_count(384, 16, 224, 1000, 12) == 22_050_664
    assert _timm_parameter_count(768, 16, 224, 1000, 12) == 86_567_656


@pytest.mark.parametrize("name", sorted(VIT_CONFIGS))
def test_named_configurations(name):
    """Every named configuration (at depth 1 and 32 px, so the test stays fast): timm's
    parameter count, a forward pass and a config round trip."""
    model = vit(name, img_size=32, depth=1, num_classes=4)
    config = VIT_CONFIGS[name]
    assert model.name == name
    assert model.count_params() == _timm_parameter_count(config["embed_dim"], config["patch_size"],
                                                         32, 4, 1)
    assert tuple(model.output.shape) == (None, 4)
    rebuilt = keras.Model.from_config(model.get_config())
    assert rebuilt.get_config() == model.get_config()
    assert rebuilt.count_params() == model.count_params()
    with pytest.raises(ValueError, match="name"):
        vit("vit_huge_patch99")


def test_named_configuration_trains():
    """A compiled training step (forward and backward) through a named configuration; the
    configurations differ only in widths, and compiling each costs seconds on JAX's CPU."""
    keras.utils.set_random_seed(0)
    model = vit("vit_tiny_patch16_224", img_size=32, depth=1, num_classes=4, drop_path_rate=0.1)
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = _numpy(model.get_layer("blocks_0").weights[0])
    history = model.fit(_images(32, batch=2), np.array([0, 3]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(before, _numpy(model.get_layer("blocks_0").weights[0]))
