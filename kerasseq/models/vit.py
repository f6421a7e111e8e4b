"""The Vision Transformer (Dosovitskiy et al. 2021) as timm 1.0.31's ``VisionTransformer``.

:func:`build_vit` takes timm's argument names and builds, from kerasseq layers, the model
timm computes:

    x = PatchEmbedding(images)                           (batch, grid_h, grid_w, D)
    x = pos_drop([cls_token; x] + pos_embed)             (batch, 1 + N, D)
    x = norm_pre(x)                                      (only with pre_norm)
    x = x + DropPath(Attention(LN(x)));  x = x + DropPath(MLP(LN(x)))    × depth
    features = norm(x)                                   timm's forward_features
    logits = head(head_drop(fc_norm(pool(features))))

Each block is a pre-LN :class:`~kerasseq.layers.TransformerEncoderBlock` (exact GELU,
LayerNorm epsilon 1e-6); timm's fused ``qkv`` Linear is split onto the query/key/value
projections of ``keras.layers.MultiHeadAttention`` (:func:`timm_parameters`). With
``global_pool="avg"`` timm skips the final ``norm`` and normalises after pooling
(``fc_norm``) instead; so does this model.

Named configurations are in :data:`VIT_CONFIGS` (:func:`vit`); :func:`model_from_timm_kwargs`
and :func:`timm_parameters` let :func:`kerasseq.models.timm.from_timm` load timm checkpoints.
"""

from __future__ import annotations

import keras
import numpy as np

from kerasseq.layers.transformer import TransformerEncoderBlock
from kerasseq.layers.vit import ClassTokenPositionEmbedding, PatchEmbedding, TokenPooling
from kerasseq.models.timm import conv_kernel, identity, linear_kernel, reshaped, rows

LAYER_NORM_EPSILON = 1e-6  # timm's ViT: partial(nn.LayerNorm, eps=1e-6)


def _rate(name, value):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Expected 0 <= {name} < 1. Received: {name}={value!r}")
    return float(value)


def build_vit(
    img_size=224,
    patch_size=16,
    in_chans: int = 3,
    num_classes: int = 1000,
    global_pool: str = "token",
    embed_dim: int = 768,
    depth: int = 12,
    num_heads: int = 12,
    mlp_ratio: float = 4.0,
    qkv_bias: bool = True,
    class_token: bool = True,
    pre_norm: bool = False,
    final_norm: bool = True,
    fc_norm=None,
    dynamic_img_size: bool = False,
    drop_rate: float = 0.0,
    pos_drop_rate: float = 0.0,
    proj_drop_rate: float = 0.0,
    attn_drop_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    kernel_initializer="glorot_uniform",
    seed=None,
    name: str = "vit",
) -> keras.Model:
    """Build a Vision Transformer classifier (timm's ``VisionTransformer``).

    Args:
        img_size: image size (int or ``(height, width)``) the position embeddings are made
            for.
        patch_size: patch size P (int or ``(P_h, P_w)``).
        in_chans: number of image channels.
        num_classes: number of classes; 0: no head, the model returns the pooled features.
        global_pool: ``"token"`` (the class token) or ``"avg"`` (mean of the patch tokens;
            then, as timm, no final ``norm`` but an ``fc_norm`` after pooling).
        embed_dim: D, width of the tokens.
        depth: number of Transformer blocks.
        num_heads: attention heads per block (D must be divisible by it).
        mlp_ratio: width of each block's MLP is ``int(D * mlp_ratio)``.
        qkv_bias: must be ``True`` (Keras' ``MultiHeadAttention`` has biases on all its
            projections or on none).
        class_token: prepend a class token (``global_pool="token"`` needs it).
        pre_norm: a LayerNorm ``norm_pre`` before the blocks (timm's, as CLIP).
        final_norm: the final LayerNorm (``norm``, or ``fc_norm`` with average pooling).
        fc_norm: normalise after pooling instead of before; ``None``: when
            ``global_pool="avg"`` (timm's rule).
        dynamic_img_size: ``False``: the model takes ``img_size`` images only (static shapes,
            best for XLA); ``True``: any size, the position embeddings resampled to the patch
            grid (:class:`~kerasseq.layers.ClassTokenPositionEmbedding`).
        drop_rate: dropout before the head (timm's ``head_drop``).
        pos_drop_rate: dropout after adding the position embeddings.
        proj_drop_rate: dropout on each block's attention and MLP outputs (timm also drops
            the MLP's hidden activations; this block does not).
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth; block i of n drops its branches with rate
            ``drop_path_rate * i / (n - 1)`` (timm's linear rule).
        kernel_initializer: of the blocks' projections. Keras' Glorot uniform
            by default: timm's ``trunc_normal(std=0.02)`` (``keras.initializers.
            TruncatedNormal(stddev=0.02)``) suits ViT-B's width, but starves narrow models —
            a 96-wide, 6-block ViT on MNIST reached 34% validation accuracy after 150 Adam
            steps with it, 89% with Glorot. Irrelevant when loading weights.
        seed: seed of the dropout and stochastic-depth layers.
        name: name of the model.

    Returns:
        A ``keras.Model`` from ``(batch, height, width, in_chans)`` float images to logits
        ``(batch, num_classes)`` (or the pooled ``(batch, embed_dim)`` features). Its layer
        ``"features"`` outputs timm's ``forward_features`` ``(batch, 1 + N, D)``
        (:func:`kerasseq.models.timm.features_model`).

    Example:
    >>> model = build_vit(img_size=32, patch_size=4, num_classes=10, embed_dim=64, depth=4,
    ...                   num_heads=4)

    References:
        Dosovitskiy et al. 2021, "An image is worth 16x16 words: Transformers for image
        recognition at scale"; timm 1.0.31 ``timm/models/vision_transformer.py``.
    """
    if global_pool not in ("token", "avg"):
        raise ValueError("Expected global_pool to be 'token' or 'avg'. "
                         f"Received: global_pool={global_pool!r}")
    if global_pool == "token" and not class_token:
        raise ValueError("Expected class_token=True with global_pool='token'. "
                         f"Received: class_token={class_token!r}")
    if not qkv_bias:
        raise ValueError("Expected qkv_bias=True: keras.layers.MultiHeadAttention has biases "
                         f"on all its projections or on none. Received: qkv_bias={qkv_bias!r}")
    for arg, value, least in (("in_chans", in_chans, 1), ("embed_dim", embed_dim, 1),
                              ("depth", depth, 1), ("num_heads", num_heads, 1),
                              ("num_classes", num_classes, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"Expected {arg} to be an integer >= {least}. Received: {arg}={value!r}")
    if embed_dim % num_heads:
        raise ValueError(f"Expected embed_dim to be divisible by num_heads={num_heads}. "
                         f"Received: embed_dim={embed_dim}")
    rates = {arg: _rate(arg, value) for arg, value in (
        ("drop_rate", drop_rate), ("pos_drop_rate", pos_drop_rate),
        ("proj_drop_rate", proj_drop_rate), ("attn_drop_rate", attn_drop_rate),
        ("drop_path_rate", drop_path_rate))}
    height, width = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    patch_h, patch_w = (patch_size, patch_size) if isinstance(patch_size, int) else tuple(patch_size)
    use_fc_norm = global_pool == "avg" if fc_norm is None else bool(fc_norm)
    num_prefix_tokens = int(class_token)

    def seed_of(index):
        return None if seed is None else seed + 1000 * index

    def layer_norm(layer_name):
        return keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=layer_name)

    images = keras.Input((None, None, in_chans) if dynamic_img_size else (height, width, in_chans),
                         name="images")
    x = PatchEmbedding((patch_h, patch_w), embed_dim, flatten=False,
                       name="patch_embed")(images)  # (batch, grid_h, grid_w, D)
    position = ClassTokenPositionEmbedding(class_token=class_token, name="pos_embed")
    position.build((None, height // patch_h, width // patch_w, embed_dim))  # timm's grid
    x = position(x)  # (batch, prefix + N, D)
    x = keras.layers.Dropout(rates["pos_drop_rate"], seed=seed_of(1), name="pos_drop")(x)
    if pre_norm:
        x = layer_norm("norm_pre")(x)
    drop_paths = np.linspace(0.0, rates["drop_path_rate"], depth)  # torch.linspace(0, rate, depth)
    for index in range(depth):
        x = TransformerEncoderBlock(
            num_heads, int(embed_dim * mlp_ratio), dropout=rates["proj_drop_rate"],
            attention_dropout=rates["attn_drop_rate"], activation="gelu", norm_first=True,
            layer_norm_epsilon=LAYER_NORM_EPSILON,
            kernel_initializer=kernel_initializer,
            seed=seed_of(2 + index), drop_path=float(drop_paths[index]),
            name=f"blocks_{index}")(x)  # (batch, prefix + N, D)
    if final_norm and not use_fc_norm:
        x = layer_norm("norm")(x)
    x = keras.layers.Identity(name="features")(x)  # timm's forward_features
    x = TokenPooling(global_pool, num_prefix_tokens, name="pool")(x)  # (batch, D)
    if final_norm and use_fc_norm:
        x = layer_norm("fc_norm")(x)
    x = keras.layers.Dropout(rates["drop_rate"], seed=seed_of(2 + depth), name="head_drop")(x)
    if num_classes > 0:
        x = keras.layers.Dense(num_classes, kernel_initializer=keras.initializers.TruncatedNormal(
            stddev=0.02), name="head")(x)  # (batch, num_classes)
    return keras.Model(images, x, name=name)


# ---- named configurations (timm's registry names; ImageNet-1k heads at 224×224) ----

VIT_CONFIGS = {
    "vit_tiny_patch16_224": dict(patch_size=16, embed_dim=192, depth=12, num_heads=3),
    "vit_small_patch16_224": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6),
    "vit_base_patch16_224": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12),
}


def vit(name: str, **overrides) -> keras.Model:
    """The named configuration ``name`` of :data:`VIT_CONFIGS`, with ``overrides`` of
    :func:`build_vit` arguments: ``vit("vit_small_patch16_224", num_classes=10)``."""
    if name not in VIT_CONFIGS:
        raise ValueError(f"Expected name to be one of {sorted(VIT_CONFIGS)}. Received: name={name!r}")
    return build_vit(**{"name": name, **VIT_CONFIGS[name], **overrides})


# ---- timm checkpoints (kerasseq.models.timm.from_timm) ----

_BUILD_ARGS = ("img_size", "patch_size", "in_chans", "num_classes", "global_pool", "embed_dim",
               "depth", "num_heads", "mlp_ratio", "qkv_bias", "class_token", "pre_norm",
               "final_norm", "fc_norm", "dynamic_img_size", "drop_rate", "pos_drop_rate",
               "proj_drop_rate", "attn_drop_rate", "drop_path_rate")
# timm arguments this port does not implement: accepted only at timm's default value
_TIMM_DEFAULTS = {"qk_norm": False, "proj_bias": True, "init_values": None, "pos_embed": "learn",
                  "no_embed_class": False, "reg_tokens": 0, "dynamic_img_pad": False,
                  "patch_drop_rate": 0.0, "embed_norm_layer": None, "norm_layer": None,
                  "act_layer": None}
# timm arguments that only change the random initialisation, which loading replaces
_INIT_ONLY = ("weight_init", "fix_init")


def model_from_timm_kwargs(timm_class: str, kwargs: dict) -> keras.Model:
    """The model timm's ``VisionTransformer(**kwargs)`` is (see :mod:`kerasseq.models.timm`).

    Raises:
        ValueError: naming every argument this port does not support (unknown to it, or a
            timm feature it lacks set to a non-default value).
    """
    if timm_class != "VisionTransformer":
        raise ValueError(f"Expected timm_class='VisionTransformer'. Received: timm_class={timm_class!r}")
    unsupported = sorted(k for k, v in kwargs.items()
                         if k not in _BUILD_ARGS and k not in _INIT_ONLY
                         and not (k in _TIMM_DEFAULTS and v == _TIMM_DEFAULTS[k]))
    if unsupported:
        raise ValueError(f"Expected VisionTransformer arguments among {sorted(_BUILD_ARGS)} (and "
                         f"timm's defaults of {sorted(_TIMM_DEFAULTS)}). Received unsupported: "
                         + ", ".join(f"{k}={kwargs[k]!r}" for k in unsupported))
    return build_vit(**{k: v for k, v in kwargs.items() if k in _BUILD_ARGS})


def _qkv_part(index, d, *shape, then=identity):
    """Part ``index`` (q, k, v) of a fused ``qkv`` parameter ``(3 d, ...)``, then reshaped to
    the Keras layout ``shape``; a ``qkv`` of another size is a ``ValueError`` (slicing alone
    would accept a larger one)."""
    def convert(array):
        if array.shape[0] != 3 * d:
            raise ValueError(f"expected {3 * d} = 3 x {d} rows (q, k, v)")
        return rows(index * d, (index + 1) * d, then)(array).reshape(shape)
    return convert


def _layer_norm_parameters(prefix, layer):
    return {f"{prefix}.weight": [(layer.gamma, identity)], f"{prefix}.bias": [(layer.beta, identity)]}


def timm_parameters(model: keras.Model, timm_class: str = "VisionTransformer") -> dict:
    """``{timm parameter name: [(keras variable, to_keras), ...]}`` for every parameter of
    timm's ``VisionTransformer.state_dict()`` (see :mod:`kerasseq.models.timm`)."""
    if timm_class != "VisionTransformer":
        raise ValueError(f"Expected timm_class='VisionTransformer'. Received: timm_class={timm_class!r}")
    names = {layer.name for layer in model.layers}
    patch_embed, position = model.get_layer("patch_embed"), model.get_layer("pos_embed")
    parameters = {
        "patch_embed.proj.weight": [(patch_embed.proj.kernel, conv_kernel)],
        "patch_embed.proj.bias": [(patch_embed.proj.bias, identity)],
        "pos_embed": [(position.pos_embed, identity)],
    }
    if position.class_token:
        parameters["cls_token"] = [(position.cls_token, identity)]
    for norm in ("norm_pre", "norm", "fc_norm"):
        if norm in names:
            parameters.update(_layer_norm_parameters(norm, model.get_layer(norm)))
    if "head" in names:
        head = model.get_layer("head")
        parameters["head.weight"] = [(head.kernel, linear_kernel)]
        parameters["head.bias"] = [(head.bias, identity)]
    index = 0
    while f"blocks_{index}" in names:
        block, prefix = model.get_layer(f"blocks_{index}"), f"blocks.{index}"
        attention = block.self_attention
        d, heads = attention._query_dense.kernel.shape[0], block.num_heads
        head_dim = d // heads
        q, k, v = attention._query_dense, attention._key_dense, attention._value_dense
        parameters.update({
            # qkv rows: [q; k; v], each (heads, head_dim) as timm's reshape(B, N, 3, heads, hd)
            f"{prefix}.attn.qkv.weight": [
                (dense.kernel, _qkv_part(i, d, d, heads, head_dim, then=linear_kernel))
                for i, dense in enumerate((q, k, v))],
            f"{prefix}.attn.qkv.bias": [(dense.bias, _qkv_part(i, d, heads, head_dim))
                                        for i, dense in enumerate((q, k, v))],
            f"{prefix}.attn.proj.weight": [(attention._output_dense.kernel,
                                            reshaped(heads, head_dim, d, then=linear_kernel))],
            f"{prefix}.attn.proj.bias": [(attention._output_dense.bias, identity)],
            f"{prefix}.mlp.fc1.weight": [(block.feedforward_intermediate.kernel, linear_kernel)],
            f"{prefix}.mlp.fc1.bias": [(block.feedforward_intermediate.bias, identity)],
            f"{prefix}.mlp.fc2.weight": [(block.feedforward_output.kernel, linear_kernel)],
            f"{prefix}.mlp.fc2.bias": [(block.feedforward_output.bias, identity)],
            **_layer_norm_parameters(f"{prefix}.norm1", block.self_attention_norm),
            **_layer_norm_parameters(f"{prefix}.norm2", block.feedforward_norm),
        })
        index += 1
    return parameters
