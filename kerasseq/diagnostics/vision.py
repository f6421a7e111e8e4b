"""Where a Vision Transformer looks: its attention weights and attention rollout.

:func:`vit_attention_maps` runs a kerasseq ViT (:func:`kerasseq.models.vit.build_vit`, alone
or inside a wrapper model such as the image-classification task's ``Input → Normalization →
ViT``) layer by layer with the model's own layers, asking each block's
``MultiHeadAttention`` for its attention weights on the way.

:func:`attention_rollout` (Abnar and Zuidema 2020) follows the attention through the layers:
with Ā_l the weights of layer l averaged over the heads, the residual connection is
accounted for by adding the identity and renormalising the rows,

    A_l = row_normalise(Ā_l + I),        R = A_L A_{L-1} ... A_1        (T, T)

so R[i, j] is how much of token j reaches token i at the output. The relevance of the
patches is the class token's row of R (the mean of the patch tokens' rows when the model
reads out their average, or has no class token), on the patch grid.

References:
    Abnar and Zuidema 2020, "Quantifying attention flow in transformers" (ACL), §3;
    Dosovitskiy et al. 2021, "An image is worth 16x16 words", fig. 6 and appendix D.8.
"""

from __future__ import annotations

import keras
import numpy as np

from kerasseq.layers.transformer import TransformerEncoderBlock


def _is_vit(model) -> bool:
    names = {layer.name for layer in model.layers}
    return {"patch_embed", "pos_embed", "features"} <= names


def find_vit(model: keras.Model) -> tuple[keras.Model, keras.Model | None]:
    """The kerasseq ViT inside ``model`` and the model from ``model``'s inputs to the ViT's
    inputs (``None`` when ``model`` is the ViT itself).

    Raises:
        ValueError: when ``model`` neither is nor contains (at any depth) a model built by
            :func:`kerasseq.models.vit.build_vit`.
    """
    if _is_vit(model):
        return model, None
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            try:
                vit, inner = find_vit(layer)
            except ValueError:
                continue
            # the tensor the wrapper feeds into `layer`, as a model of the wrapper's inputs
            head = keras.Model(model.inputs, layer._inbound_nodes[0].input_tensors[0])
            if inner is not None:
                head = keras.Model(model.inputs, inner(head.output))
            return vit, head
    raise ValueError("Expected a kerasseq ViT (build_vit: layers 'patch_embed', 'pos_embed', "
                     f"'features') or a model containing one. Received: model={model.name!r}")


def _block_with_attention(block: TransformerEncoderBlock, x):
    """``block(x)`` at inference, computed with the block's own sub-layers, and the attention
    weights ``(batch, heads, T, T)`` of its self-attention."""
    scores = []

    def attend(y):
        out, weights = block.self_attention(y, y, return_attention_scores=True, training=False)
        scores.append(weights)
        return out

    x = block._sublayer(x, attend, block.self_attention_norm, block.self_attention_dropout, False)
    return block._feedforward(x, False), scores[0]


def vit_attention_maps(model: keras.Model, images, return_features: bool = False):
    """The attention weights of every block of a kerasseq ViT on ``images``.

    The images go through the model's own layers in order (the wrapper's layers in front of
    the ViT, then patch and position embedding, the blocks, the final norm), each
    :class:`~kerasseq.layers.TransformerEncoderBlock` asked for its weights with
    ``MultiHeadAttention(..., return_attention_scores=True)``; at inference, so dropout and
    stochastic depth are off.

    Args:
        model: a model built by :func:`kerasseq.models.vit.build_vit`, or one containing it
            (e.g. ``Input → Normalization → ViT``).
        images: ``(batch, height, width, channels)`` what ``model`` takes.
        return_features: also return the hidden states after the last block and final norm
            (equal to the ViT's ``"features"`` output, timm's ``forward_features``).

    Returns:
        A list, one per block, of float32 NumPy arrays ``(batch, heads, T, T)`` (T = prefix
        tokens + patches; row i: how query token i attends the keys); with
        ``return_features``, ``(maps, features)``, features ``(batch, T, D)``.

    Example:
    >>> maps = vit_attention_maps(model, images)
    >>> relevance = attention_rollout(maps, num_prefix_tokens=1)  # (batch, grid_h, grid_w)
    """
    vit, head = find_vit(model)
    x = keras.ops.convert_to_tensor(np.asarray(images, "float32"))
    if head is not None:
        x = head(x, training=False)
    maps = []
    for layer in vit.layers[1:]:  # topological order, after the InputLayer
        if layer.name == "features":
            break
        if isinstance(layer, TransformerEncoderBlock):
            x, weights = _block_with_attention(layer, x)
            maps.append(keras.ops.convert_to_numpy(weights).astype("float32"))
        else:
            x = layer(x, training=False)
    if not maps:
        raise ValueError(f"Expected TransformerEncoderBlocks in the ViT {vit.name!r}. Received none.")
    if return_features:
        return maps, keras.ops.convert_to_numpy(x)
    return maps


def attention_rollout(maps, num_prefix_tokens: int, discard_ratio: float = 0.0, *,
                      readout: str | None = None, grid_size=None) -> np.ndarray:
    """Attention rollout (Abnar and Zuidema 2020) over the patch grid.

    Per layer, the weights are averaged over the heads (Ā), optionally the smallest
    ``discard_ratio`` of each image's T² entries are zeroed (Gildenblat's ``vit-explain``
    noise filter), then A = row_normalise(Ā + I); the rollout is R = A_L ... A_1.

    Args:
        maps: one ``(batch, heads, T, T)`` array per layer, first layer first
            (:func:`vit_attention_maps`).
        num_prefix_tokens: tokens before the patches (1 with a class token, else 0).
        discard_ratio: fraction in [0, 1) of the smallest head-averaged weights dropped.
        readout: ``"token"``: the class token's row of R (needs a prefix token); ``"avg"``:
            the mean of the patch tokens' rows (models pooling by averaging, timm's
            ``global_pool="avg"``). Default: ``"token"`` when there is a prefix token, else
            ``"avg"``.
        grid_size: ``(grid_h, grid_w)`` of the patches; default: a square grid.

    Returns:
        ``(batch, grid_h, grid_w)`` float64 relevance of each patch (the patch columns of the
        readout row(s) of R; not renormalised).
    """
    if not maps:
        raise ValueError("Expected at least one attention map. Received: maps=[]")
    if not 0.0 <= discard_ratio < 1.0:
        raise ValueError(f"Expected 0 <= discard_ratio < 1. Received: discard_ratio={discard_ratio!r}")
    readout = readout or ("token" if num_prefix_tokens > 0 else "avg")
    if readout not in ("token", "avg") or (readout == "token" and num_prefix_tokens < 1):
        raise ValueError("Expected readout 'token' (with num_prefix_tokens >= 1) or 'avg'. "
                         f"Received: readout={readout!r}, num_prefix_tokens={num_prefix_tokens!r}")
    batch, _, tokens, _ = np.shape(maps[0])
    patches = tokens - num_prefix_tokens
    if grid_size is None:
        side = int(round(patches ** 0.5))
        grid_size = (side, side)
    if grid_size[0] * grid_size[1] != patches:
        raise ValueError(f"Expected grid_size with {patches} patches. Received: grid_size={grid_size!r}")
    identity = np.eye(tokens)
    rollout = np.broadcast_to(identity, (batch, tokens, tokens))
    for weights in maps:
        mean = np.asarray(weights, "float64").mean(axis=1)  # (batch, T, T)
        if discard_ratio > 0.0:
            flat = mean.reshape(batch, -1).copy()
            drop = np.argsort(flat, axis=-1)[:, :int(flat.shape[-1] * discard_ratio)]
            np.put_along_axis(flat, drop, 0.0, axis=-1)
            mean = flat.reshape(batch, tokens, tokens)
        a = mean + identity
        a = a / a.sum(axis=-1, keepdims=True)  # (batch, T, T)
        rollout = a @ rollout  # later layers on the left
    if readout == "token":
        relevance = rollout[:, 0, num_prefix_tokens:]  # (batch, patches)
    else:
        relevance = rollout[:, num_prefix_tokens:, num_prefix_tokens:].mean(axis=1)
    return relevance.reshape(batch, *grid_size)
