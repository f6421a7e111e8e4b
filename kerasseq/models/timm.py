"""timm checkpoints as kerasseq models: ``from_timm(timm_class, kwargs, weights)``.

A timm model is rebuilt with kerasseq's builder for its family (timm's constructor arguments
translated to the builder's), and its ``state_dict`` (timm's own parameter names, read with
``safetensors.numpy``; no PyTorch) is copied into the Keras variables. Each family module
provides the two halves:

- ``model_from_timm_kwargs(timm_class, kwargs) -> keras.Model``: the model timm would build
  (an unsupported argument is a ``ValueError`` naming it);
- ``timm_parameters(model, timm_class) -> {timm name: [(variable, to_keras), ...]}``: where
  each timm parameter goes; ``to_keras`` maps the PyTorch array to the variable's layout (one
  timm parameter may fill several variables, e.g. a fused ``qkv`` split in three).

Every model takes channels-last float images ``(batch, height, width, channels)``, normalised
as the checkpoint expects, returns logits, and names the layer whose output is timm's
``forward_features`` ``"features"`` (see :func:`features_model`).

Example:
>>> model = from_timm("SwinTransformer", dict(img_size=224, embed_dim=96, depths=(2, 2, 6, 2),
...                   num_heads=(3, 6, 12, 24), window_size=7), "swin_tiny.safetensors")
"""

from __future__ import annotations

import importlib
import os
from typing import Callable, Mapping

import keras
import numpy as np

# timm class name -> the kerasseq module of its family
FAMILIES = {
    "VisionTransformer": "kerasseq.models.vit",
    "SwinTransformer": "kerasseq.models.swin",
    "SwinTransformerV2": "kerasseq.models.swin",
}
# buffers timm recomputes rather than loads; a state_dict may carry them, we recompute them too
RECOMPUTED_BUFFERS = ("relative_position_index", "attn_mask", "relative_coords_table")


def _family(timm_class: str):
    name = timm_class.rsplit(".", 1)[-1]
    if name not in FAMILIES:
        raise ValueError(f"Expected timm_class to be one of {sorted(FAMILIES)} (or a dotted path "
                         f"ending in one). Received: timm_class={timm_class!r}")
    return name, importlib.import_module(FAMILIES[name])


def read_state(weights) -> dict[str, np.ndarray]:
    """A timm ``state_dict`` as NumPy arrays: from a ``.safetensors`` path or a mapping."""
    if isinstance(weights, (str, os.PathLike)):
        from safetensors.numpy import load_file

        if not os.path.isfile(weights):
            raise FileNotFoundError(f"timm weights file {os.fspath(weights)!r} does not exist")
        return load_file(os.fspath(weights))
    if isinstance(weights, Mapping):
        return {str(k): np.asarray(v) for k, v in weights.items()}
    raise TypeError("Expected weights to be a .safetensors path or a mapping from timm "
                    f"parameter names to arrays. Received: {type(weights).__name__}")


def assign_timm_state(parameters: dict[str, list[tuple]], state: Mapping[str, np.ndarray]) -> None:
    """Copy ``state`` into the variables of ``parameters`` (see the module docstring).

    Raises:
        ValueError: naming every timm parameter that is missing from ``state``, every name of
            ``state`` the model has no place for, or the first shape mismatch.
    """
    loadable = {k: v for k, v in state.items() if k.rsplit(".", 1)[-1] not in RECOMPUTED_BUFFERS}
    missing = sorted(set(parameters) - set(loadable))
    unknown = sorted(set(loadable) - set(parameters))
    if missing or unknown:
        raise ValueError("The timm weights do not fit this model: "
                         + (f"missing parameters {missing}" if missing else "")
                         + ("; " if missing and unknown else "")
                         + (f"unknown parameters {unknown}" if unknown else ""))
    for name, targets in parameters.items():
        array = np.asarray(loadable[name], dtype="float32")
        for variable, to_keras in targets:
            try:
                value = to_keras(array)
            except ValueError as error:  # a reshape that cannot work
                raise ValueError(f"timm parameter {name!r} of shape {array.shape} does not fit "
                                 f"{variable.path} of shape {tuple(variable.shape)}: {error}") from None
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(f"timm parameter {name!r} of shape {array.shape} does not fit "
                                 f"{variable.path} of shape {tuple(variable.shape)}")
            variable.assign(value)


def from_timm(timm_class: str, kwargs: dict, weights) -> keras.Model:
    """A kerasseq model computing what timm's ``timm_class(**kwargs)`` with ``weights`` does.

    Args:
        timm_class: ``"VisionTransformer"``, ``"SwinTransformer"`` or ``"SwinTransformerV2"``
            (or timm's dotted path ending in one of them).
        kwargs: the keyword arguments timm's class was constructed with.
        weights: a ``.safetensors`` file of the timm ``state_dict``, or a mapping from timm
            parameter names to arrays.

    Returns:
        A ``keras.Model`` from channels-last float images to logits; its layer ``"features"``
        gives timm's ``forward_features`` (:func:`features_model`).
    """
    name, family = _family(timm_class)
    model = family.model_from_timm_kwargs(name, dict(kwargs))
    assign_timm_state(family.timm_parameters(model, name), read_state(weights))
    return model


def features_model(model: keras.Model) -> keras.Model:
    """The part of a kerasseq vision model up to its ``"features"`` layer (timm's
    ``forward_features``: Swin ``(N, H/32, W/32, C)``, ViT ``(N, 1 + tokens, C)``)."""
    return keras.Model(model.input, model.get_layer("features").output)


# ---- layout converters shared by the families (PyTorch -> Keras) ----

def linear_kernel(weight: np.ndarray) -> np.ndarray:
    """``nn.Linear.weight`` ``(out, in)`` → ``Dense.kernel`` ``(in, out)``."""
    return weight.T


def conv_kernel(weight: np.ndarray) -> np.ndarray:
    """``nn.Conv2d.weight`` ``(out, in, kh, kw)`` → ``Conv2D.kernel`` ``(kh, kw, in, out)``."""
    return weight.transpose(2, 3, 1, 0)


def rows(start: int, stop: int, then: Callable = lambda a: a) -> Callable:
    """Take rows ``start:stop`` (e.g. one of q, k, v of a fused ``qkv``), then ``then``."""
    return lambda array: then(array[start:stop])


def reshaped(*shape: int, then: Callable = lambda a: a) -> Callable:
    """Apply ``then``, then reshape to ``shape``."""
    return lambda array: then(array).reshape(shape)


def identity(array: np.ndarray) -> np.ndarray:
    return array
