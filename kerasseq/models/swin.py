"""Swin Transformer (V1, V2) image classifiers, as timm 1.0.31 builds them.

``build_swin`` / ``build_swinv2`` take timm's argument names and return a functional
``keras.Model`` from channels-last float images ``(batch, H, W, in_chans)`` to logits:

    patch_embed (Conv2D stride=patch, LayerNorm)
    → stage 0: blocks;  stage i > 0: PatchMerging at its start (timm ``layers.i.downsample``), blocks
    → LayerNorm "features" (timm ``forward_features``: (batch, H/32, W/32, C))
    → global average pooling → dropout → Dense head

Blocks alternate plain and shifted windows (shift = window // 2); the stochastic-depth rate
grows linearly from 0 to ``drop_path_rate`` over all blocks. Layers are named after timm's
modules (``layers.1.blocks.0``), so :func:`timm_parameters` maps timm's ``state_dict`` onto
them for :func:`kerasseq.models.timm.from_timm`. Named configurations: :data:`SWIN_CONFIGS`
and :func:`swin`.
"""

from __future__ import annotations

import keras
import numpy as np

from kerasseq.layers.swin import PatchMerging, SwinBlock, _pair, _positive_int
from kerasseq.layers.swinv2 import PatchMergingV2, SwinV2Block
from kerasseq.models.timm import conv_kernel, identity, linear_kernel


def _check_stages(depths, num_heads, extra: dict) -> None:
    # timm indexes pretrained_window_sizes by stage: a longer tuple (the default) is fine
    if not depths or len(num_heads) != len(depths) or any(len(v) < len(depths) for v in extra.values()):
        raise ValueError("Expected one entry of depths and num_heads (and of "
                         f"pretrained_window_sizes) per stage. Received: depths={depths!r}, "
                         f"num_heads={num_heads!r}" + "".join(f", {k}={v!r}" for k, v in extra.items()))


def _build(version: int, img_size, patch_size, in_chans, num_classes, embed_dim, depths,
           num_heads, window_size, mlp_ratio, qkv_bias, drop_rate, proj_drop_rate,
           attn_drop_rate, drop_path_rate, pretrained_window_sizes, seed, name):
    depths, num_heads = tuple(depths), tuple(num_heads)
    extra = {} if pretrained_window_sizes is None else {"pretrained_window_sizes": (
        (pretrained_window_sizes,) * len(depths) if isinstance(pretrained_window_sizes, int)
        else tuple(pretrained_window_sizes))}
    _check_stages(depths, num_heads, extra)
    _positive_int(embed_dim, "embed_dim")  # one width, doubled per stage (not timm's per-stage list)
    height, width = _pair(img_size, "img_size")
    patch = _pair(patch_size, "patch_size")
    if height % patch[0] or width % patch[1]:
        raise ValueError(f"Expected img_size divisible by patch_size. Received: "
                         f"img_size={img_size!r}, patch_size={patch_size!r}")
    window = _pair(window_size, "window_size")
    shift = (window[0] // 2, window[1] // 2)
    block_cls, merging_cls = (SwinBlock, PatchMerging) if version == 1 else (SwinV2Block, PatchMergingV2)
    # timm: torch.linspace(0, drop_path_rate, sum(depths)), one rate per block
    rates = np.linspace(0.0, drop_path_rate, sum(depths)).tolist()

    images = keras.Input((height, width, in_chans), name="images")  # (batch, H, W, in_chans)
    x = keras.layers.Conv2D(embed_dim, patch, strides=patch, name="patch_embed.proj")(images)
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="patch_embed.norm")(x)  # (batch, H/p, W/p, C)
    block = 0
    for i, (depth, heads) in enumerate(zip(depths, num_heads)):
        if i > 0:
            x = merging_cls(name=f"layers.{i}.downsample")(x)  # (batch, H/2, W/2, 2C)
        for j in range(depth):
            options = {} if version == 1 else {
                "pretrained_window_size": extra["pretrained_window_sizes"][i]}
            x = block_cls(num_heads=heads, window_size=window, shift_size=0 if j % 2 == 0 else shift,
                          mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, dropout=proj_drop_rate,
                          attention_dropout=attn_drop_rate, drop_path=rates[block],
                          seed=None if seed is None else seed + 4 * block, name=f"layers.{i}.blocks.{j}",
                          **options)(x)
            block += 1
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="features")(x)  # (batch, H/32, W/32, C)
    x = keras.layers.GlobalAveragePooling2D(name="head.global_pool")(x)  # (batch, C)
    if num_classes:
        x = keras.layers.Dropout(drop_rate, seed=seed, name="head.drop")(x)
        x = keras.layers.Dense(num_classes, name="head.fc")(x)  # (batch, num_classes)
    return keras.Model(images, x, name=name)


def build_swin(img_size=224, patch_size=4, in_chans: int = 3, num_classes: int = 1000,
               embed_dim: int = 96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window_size=7,
               mlp_ratio: float = 4.0, qkv_bias: bool = True, drop_rate: float = 0.0,
               proj_drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
               drop_path_rate: float = 0.1, seed=None, name: str = "swin") -> keras.Model:
    """Swin Transformer (V1) classifier, timm's ``SwinTransformer`` (defaults: Swin-T).

    Args:
        img_size: input height and width (``int`` or pair), divisible by ``patch_size``.
        patch_size: side of the non-overlapping patches embedded by the first convolution.
        in_chans: input channels.
        num_classes: logits; 0 returns the pooled features instead.
        embed_dim: channels of stage 0; each later stage doubles them.
        depths: blocks per stage.
        num_heads: attention heads per stage.
        window_size: attention window (clamped to a stage's resolution as timm does).
        mlp_ratio: hidden width of the MLPs over the channels.
        qkv_bias: a bias on the qkv projections.
        drop_rate: dropout before the head.
        proj_drop_rate: dropout after the attention projections and in the MLPs.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth of the last block (linear from 0 over all blocks).
        seed: seed of the random layers (each block gets its own: seed + 4 * block index).
        name: model name.

    Returns:
        ``keras.Model``: ``(batch, H, W, in_chans)`` float images → ``(batch, num_classes)``;
        layer ``"features"`` gives ``(batch, H/32, W/32, C)``.

    Example:
    >>> model = build_swin(img_size=64, embed_dim=16, depths=(2, 2), num_heads=(1, 2),
    ...                    window_size=4, num_classes=10)

    References:
        Liu et al. 2021, "Swin Transformer: Hierarchical vision transformer using shifted
        windows"; timm 1.0.31 ``timm/models/swin_transformer.py``.
    """
    return _build(1, img_size, patch_size, in_chans, num_classes, embed_dim, depths, num_heads,
                  window_size, mlp_ratio, qkv_bias, drop_rate, proj_drop_rate, attn_drop_rate,
                  drop_path_rate, None, seed, name)


def build_swinv2(img_size=256, patch_size=4, in_chans: int = 3, num_classes: int = 1000,
                 embed_dim: int = 96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24),
                 window_size=7, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 drop_rate: float = 0.0, proj_drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.1, pretrained_window_sizes=(0, 0, 0, 0), seed=None,
                 name: str = "swinv2") -> keras.Model:
    """Swin Transformer V2 classifier, timm's ``SwinTransformerV2``: the arguments of
    :func:`build_swin` and ``pretrained_window_sizes`` (one per stage, or one int for all; 0
    normalises the continuous position bias by the stage's own window; as in timm, entries
    beyond the number of stages are unused).

    Example:
    >>> model = build_swinv2(img_size=64, embed_dim=16, depths=(2, 2), num_heads=(1, 2),
    ...                      window_size=4, num_classes=10, pretrained_window_sizes=(0, 0))

    References:
        Liu et al. 2022, "Swin Transformer V2: Scaling up capacity and resolution"; timm
        1.0.31 ``timm/models/swin_transformer_v2.py``.
    """
    return _build(2, img_size, patch_size, in_chans, num_classes, embed_dim, depths, num_heads,
                  window_size, mlp_ratio, qkv_bias, drop_rate, proj_drop_rate, attn_drop_rate,
                  drop_path_rate, pretrained_window_sizes, seed, name)


# ---- named configurations (timm's model names) ----

_BUILDERS = {"swin": build_swin, "swinv2": build_swinv2}
SWIN_CONFIGS = {
    "swin_tiny_patch4_window7_224": dict(
        family="swin", patch_size=4, window_size=7, embed_dim=96, depths=(2, 2, 6, 2),
        num_heads=(3, 6, 12, 24)),
    "swin_small_patch4_window7_224": dict(
        family="swin", patch_size=4, window_size=7, embed_dim=96, depths=(2, 2, 18, 2),
        num_heads=(3, 6, 12, 24)),
    "swin_base_patch4_window7_224": dict(
        family="swin", patch_size=4, window_size=7, embed_dim=128, depths=(2, 2, 18, 2),
        num_heads=(4, 8, 16, 32)),
    "swinv2_tiny_window8_256": dict(
        family="swinv2", img_size=256, window_size=8, embed_dim=96, depths=(2, 2, 6, 2),
        num_heads=(3, 6, 12, 24)),
}


def swin(name: str, **overrides) -> keras.Model:
    """The named configuration ``name`` of :data:`SWIN_CONFIGS`, with builder arguments
    overridden (e.g. ``num_classes=10``). Example: ``swin("swin_tiny_patch4_window7_224")``."""
    if name not in SWIN_CONFIGS:
        raise ValueError(f"Expected name to be one of {sorted(SWIN_CONFIGS)}. Received: name={name!r}")
    config = dict(SWIN_CONFIGS[name])
    builder = _BUILDERS[config.pop("family")]
    return builder(**{**config, "name": name, **overrides})


# ---- timm checkpoints (the contract of kerasseq.models.timm) ----

_TIMM_ARGS = ("img_size", "patch_size", "in_chans", "num_classes", "embed_dim", "depths",
              "num_heads", "window_size", "mlp_ratio", "qkv_bias", "drop_rate", "proj_drop_rate",
              "attn_drop_rate", "drop_path_rate")
# timm arguments accepted only at the value this port implements
_TIMM_FIXED = {"global_pool": "avg", "head_dim": None, "always_partition": False,
               "strict_img_size": True, "act_layer": "gelu", "weight_init": ""}
_TIMM_CLASSES = {"SwinTransformer": (build_swin, _TIMM_ARGS),
                 "SwinTransformerV2": (build_swinv2, _TIMM_ARGS + ("pretrained_window_sizes",))}


def _timm_class(timm_class: str) -> str:
    name = timm_class.rsplit(".", 1)[-1]
    if name not in _TIMM_CLASSES:
        raise ValueError(f"Expected timm_class to be one of {sorted(_TIMM_CLASSES)}. "
                         f"Received: timm_class={timm_class!r}")
    return name


def model_from_timm_kwargs(timm_class: str, kwargs: dict) -> keras.Model:
    """The model timm's ``timm_class(**kwargs)`` builds (``"SwinTransformer"`` or
    ``"SwinTransformerV2"``), with timm's defaults for the arguments not given.

    Raises:
        ValueError: naming the arguments this port does not implement (or implements only at
            timm's default value, e.g. ``global_pool="avg"``).
    """
    builder, supported = _TIMM_CLASSES[_timm_class(timm_class)]
    unsupported = sorted(k for k, v in kwargs.items()
                         if k not in supported and not (k in _TIMM_FIXED and v == _TIMM_FIXED[k]))
    if unsupported:
        raise ValueError(f"Expected only the {timm_class} arguments {sorted(supported)} (and "
                         f"{_TIMM_FIXED} at these values). Received unsupported arguments: "
                         + ", ".join(f"{k}={kwargs[k]!r}" for k in unsupported))
    return builder(**{k: v for k, v in kwargs.items() if k in supported})


def _dense(prefix: str, layer) -> dict:
    out = {f"{prefix}.weight": [(layer.kernel, linear_kernel)]}
    if layer.use_bias:
        out[f"{prefix}.bias"] = [(layer.bias, identity)]
    return out


def _norm(prefix: str, layer) -> dict:
    return {f"{prefix}.weight": [(layer.gamma, identity)], f"{prefix}.bias": [(layer.beta, identity)]}


def _block(prefix: str, block) -> dict:
    attn = block.attn
    out = {**_norm(f"{prefix}.norm1", block.norm1), **_norm(f"{prefix}.norm2", block.norm2),
           **_dense(f"{prefix}.attn.qkv", attn.qkv), **_dense(f"{prefix}.attn.proj", attn.proj),
           **_dense(f"{prefix}.mlp.fc1", block.fc1), **_dense(f"{prefix}.mlp.fc2", block.fc2)}
    if isinstance(block, SwinV2Block):
        out.update({f"{prefix}.attn.logit_scale": [(attn.logit_scale, identity)],
                    **_dense(f"{prefix}.attn.cpb_mlp.0", attn.cpb_mlp_0),
                    **_dense(f"{prefix}.attn.cpb_mlp.2", attn.cpb_mlp_2)})
        if attn.qkv_bias:
            out[f"{prefix}.attn.q_bias"] = [(attn.q_bias, identity)]
            out[f"{prefix}.attn.v_bias"] = [(attn.v_bias, identity)]
    else:
        out[f"{prefix}.attn.relative_position_bias_table"] = [
            (attn.relative_position_bias_table, identity)]
    return out


def timm_parameters(model: keras.Model, timm_class: str) -> dict:
    """``{timm parameter name: [(keras variable, to_keras), ...]}`` for every parameter of
    the ``state_dict`` of the timm model ``model`` was built as (see
    :mod:`kerasseq.models.timm`)."""
    version = 2 if _timm_class(timm_class) == "SwinTransformerV2" else 1
    block_cls, merging_cls = (SwinV2Block, PatchMergingV2) if version == 2 else (SwinBlock, PatchMerging)
    params = {}
    for layer in model.layers:
        name = layer.name
        if isinstance(layer, (SwinBlock, PatchMerging)):
            if type(layer) not in (block_cls, merging_cls):
                raise ValueError(f"Expected a {timm_class} model. Received a model with layer "
                                 f"{name!r} of type {type(layer).__name__}")
            params.update(_block(name, layer) if isinstance(layer, SwinBlock) else {
                **_norm(f"{name}.norm", layer.norm), **_dense(f"{name}.reduction", layer.reduction)})
        elif isinstance(layer, keras.layers.LayerNormalization):
            params.update(_norm("norm" if name == "features" else name, layer))
        elif isinstance(layer, keras.layers.Conv2D):
            params.update({f"{name}.weight": [(layer.kernel, conv_kernel)],
                           f"{name}.bias": [(layer.bias, identity)]})
        elif isinstance(layer, keras.layers.Dense):
            params.update(_dense(name, layer))
    return params
