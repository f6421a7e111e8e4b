"""Vision Transformer (ViT) input and output layers (Dosovitskiy et al. 2021).

An image is cut into P×P patches, each patch is projected linearly (a strided convolution,
:class:`PatchEmbedding`), a learned class token is prepended and learned position embeddings
are added (:class:`ClassTokenPositionEmbedding`, timm's ``cls_token``/``pos_embed``); the
tokens then go through pre-LN Transformer encoder blocks
(:class:`~kerasseq.layers.TransformerEncoderBlock`), and :class:`TokenPooling` reads out the
class token (or the mean of the patch tokens) for the classification head.
:func:`kerasseq.models.build_vit` wires them as timm's ``VisionTransformer``.
"""

from __future__ import annotations

import keras
from keras import ops

_REFERENCE = """Dosovitskiy et al. 2021, "An image is worth 16x16 words: Transformers for
        image recognition at scale" (ICLR), §3.1 and eq. 1-4."""


def _cubic(t, a=-0.5):
    """Keys' cubic convolution kernel with a = -0.5 (PIL's and antialiased PyTorch's)."""
    t = ops.abs(t)
    return ops.where(t < 1.0, ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0,
                     ops.where(t < 2.0, (((t - 5.0) * t + 8.0) * t - 4.0) * a, 0.0))


def _triangle(t):
    return ops.maximum(1.0 - ops.abs(t), 0.0)


_KERNELS = {"bicubic": _cubic, "bilinear": _triangle}


def interpolation_matrix(size_in: int, size_out, interpolation: str = "bicubic"):
    """``(size_out, size_in)`` float32 weights resampling one axis of ``size_in`` pixels to
    ``size_out`` (an int or a scalar int tensor), antialiased as ``keras.ops.image.resize(...,
    antialias=True)`` and PyTorch's ``interpolate(..., antialias=True)``: pixel centres
    aligned (half-pixel), the kernel widened by the scale when downsampling, and each row's
    weights renormalised to sum to 1 (which handles the borders)."""
    scale = size_in / ops.cast(size_out, "float32")
    stretch = ops.maximum(scale, 1.0)
    centers = (ops.arange(size_out, dtype="float32") + 0.5) * scale  # (out,)
    offsets = ops.arange(size_in, dtype="float32")[None, :] + 0.5 - centers[:, None]  # (out, in)
    weights = _KERNELS[interpolation](offsets / stretch)  # (out, in)
    return weights / ops.sum(weights, axis=1, keepdims=True)


def _pair(value, name):
    """``value`` (an int or two ints) as a tuple of two positive ints."""
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in pair)):
        raise ValueError(f"Expected `{name}` to be a positive integer or two positive integers. "
                         f"Received: {name}={value!r}")
    return tuple(pair)


@keras.saving.register_keras_serializable(package="kerasseq")
class PatchEmbedding(keras.layers.Layer):
    __doc__ = """Split an image into non-overlapping patches and project each linearly.

    x_p^i E + b for every P_h×P_w patch x_p^i of the image (the ViT patch embedding, eq. 1),
    computed as a ``Conv2D`` with kernel = stride = patch size and no padding (timm's
    ``PatchEmbed.proj``). Patches are read row by row, so token ``i * grid_w + j`` is the patch
    at row i, column j, as timm's ``flatten(2).transpose(1, 2)``. An image side that is not a
    multiple of the patch size loses its last partial patch (timm refuses such images).

    Args:
        patch_size: P, an int or ``(P_h, P_w)``.
        embed_dim: D, the number of features of each token.
        flatten: ``True``: return tokens ``(batch, grid_h * grid_w, D)``; ``False``: keep the
            grid ``(batch, grid_h, grid_w, D)`` (what :class:`ClassTokenPositionEmbedding`
            takes, so that it knows the grid).
        use_bias: whether the projection has a bias.
        kernel_initializer / bias_initializer: of the projection.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Input ``(batch, height, width, channels)`` channels-last images; output ``(batch,
    grid_h * grid_w, D)`` (or ``(batch, grid_h, grid_w, D)``), grid = image size // P.

    Example:
    >>> tokens = PatchEmbedding(16, 768)(images)  # (batch, 224, 224, 3) -> (batch, 196, 768)

    References:
        """ + _REFERENCE + """
    """

    def __init__(self, patch_size, embed_dim: int, flatten: bool = True, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.patch_size = _pair(patch_size, "patch_size")
        if isinstance(embed_dim, bool) or not isinstance(embed_dim, int) or embed_dim < 1:
            raise ValueError(f"Expected `embed_dim` to be a positive integer. "
                             f"Received: embed_dim={embed_dim!r}")
        self.embed_dim = embed_dim
        self.flatten = bool(flatten)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError("Expected images (batch, height, width, channels) with a known "
                             f"number of channels. Received: input_shape={input_shape}")
        self.proj = keras.layers.Conv2D(
            self.embed_dim, self.patch_size, strides=self.patch_size, padding="valid",
            data_format="channels_last", use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer,
            name="proj", dtype=self.dtype_policy)
        self.proj.build(input_shape)

    def call(self, inputs):
        x = self.proj(inputs)  # (batch, grid_h, grid_w, D)
        if self.flatten:
            x = ops.reshape(x, (ops.shape(x)[0], -1, self.embed_dim))  # (batch, tokens, D)
        return x

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        grid = [None if size is None else size // patch
                for size, patch in zip((height, width), self.patch_size)]
        if not self.flatten:
            return (batch, *grid, self.embed_dim)
        tokens = None if None in grid else grid[0] * grid[1]
        return (batch, tokens, self.embed_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "patch_size": self.patch_size,
            "embed_dim": self.embed_dim,
            "flatten": self.flatten,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="kerasseq")
class ClassTokenPositionEmbedding(keras.layers.Layer):
    __doc__ = """Prepend the learned class token to the patch tokens and add learned position
    embeddings, resampled to the patch grid of the image.

        z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos      (eq. 1; timm's ``_pos_embed``)

    with ``x_class`` the weight ``cls_token`` ``(1, 1, D)`` and ``E_pos`` the weight
    ``pos_embed`` ``(1, 1 + grid_h * grid_w, D)``, timm's parameters of the same names. Without
    a class token (``class_token=False``) the output is ``x_p E + E_pos`` and ``pos_embed``
    covers only the patches ``(1, grid_h * grid_w, D)``, as timm's.

    The layer is built for the grid of its first input. On a different grid (another image
    size) the patch part of ``E_pos`` is resampled as an image ``(grid_h, grid_w, D)`` to the
    new grid, the class-token position kept (§3.2 "fine-tuning at higher resolution"), so a
    model built at 224 runs at 384. The resampling is antialiased bicubic (Keys a = -0.5, the
    values of ``keras.ops.image.resize(interpolation="bicubic", antialias=True)`` and of timm's
    ``resample_abs_pos_embed``, i.e. PyTorch's ``interpolate(mode="bicubic", antialias=True)``),
    computed as two small interpolation matrices (:func:`interpolation_matrix`), so that it
    also runs when the grid is only known at run time (a TensorFlow graph traced for any image
    size). On the grid it was built for, ``E_pos`` is used as it is.

    Args:
        class_token: whether to prepend the class token.
        interpolation: ``"bicubic"`` (timm) or ``"bilinear"``, of the resampling (both
            antialiased).
        embeddings_initializer: of ``pos_embed`` (default ``TruncatedNormal(stddev=0.02)``,
            timm's).
        class_token_initializer: of ``cls_token`` (default ``RandomNormal(stddev=1e-6)``,
            timm's).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Input ``(batch, grid_h, grid_w, D)``: the patch grid of
    ``PatchEmbedding(flatten=False)``. Output ``(batch, 1 + grid_h * grid_w, D)`` tokens,
    class token first (``(batch, grid_h * grid_w, D)`` without it).

    Example:
    >>> grid = PatchEmbedding(16, 768, flatten=False)(images)  # (batch, 14, 14, 768)
    >>> tokens = ClassTokenPositionEmbedding()(grid)  # (batch, 197, 768)

    References:
        """ + _REFERENCE + """
    """

    def __init__(self, class_token: bool = True, interpolation: str = "bicubic",
                 embeddings_initializer=None,
                 class_token_initializer=None, **kwargs):
        super().__init__(**kwargs)
        if interpolation not in ("bicubic", "bilinear"):
            raise ValueError("Expected interpolation to be 'bicubic' or 'bilinear'. "
                             f"Received: interpolation={interpolation!r}")
        self.class_token = bool(class_token)
        self.interpolation = interpolation
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer or keras.initializers.TruncatedNormal(stddev=0.02))
        self.class_token_initializer = keras.initializers.get(
            class_token_initializer or keras.initializers.RandomNormal(stddev=1e-6))
        self.num_prefix_tokens = int(self.class_token)

    def build(self, input_shape):
        if len(input_shape) != 4 or None in tuple(input_shape[1:]):
            raise ValueError("Expected a patch grid (batch, grid_h, grid_w, embed_dim) with "
                             f"known sizes. Received: input_shape={input_shape}")
        _, grid_h, grid_w, dim = input_shape
        self.grid_size = (int(grid_h), int(grid_w))  # the grid pos_embed was made for
        self.dim = int(dim)
        if self.class_token:
            self.cls_token = self.add_weight(shape=(1, 1, dim), name="cls_token",
                                             initializer=self.class_token_initializer)
        self.pos_embed = self.add_weight(
            shape=(1, self.num_prefix_tokens + grid_h * grid_w, dim), name="pos_embed",
            initializer=self.embeddings_initializer)

    def resampled_positions(self, grid):
        """``pos_embed`` for the patch grid ``grid`` = (grid_h, grid_w) (ints, or scalar
        tensors when the grid is only known at run time): ``(1, prefix + grid_h * grid_w, D)``."""
        positions = ops.convert_to_tensor(self.pos_embed)  # (1, prefix + H0 * W0, D)
        if all(isinstance(size, int) for size in grid) and tuple(grid) == self.grid_size:
            return positions
        prefix = positions[:, :self.num_prefix_tokens]  # (1, prefix, D)
        patches = ops.reshape(ops.cast(positions[:, self.num_prefix_tokens:], "float32"),
                              (*self.grid_size, self.dim))  # (H0, W0, D)
        rows = interpolation_matrix(self.grid_size[0], grid[0], self.interpolation)  # (h, H0)
        columns = interpolation_matrix(self.grid_size[1], grid[1], self.interpolation)  # (w, W0)
        patches = ops.einsum("ah,bw,hwd->abd", rows, columns, patches)  # (h, w, D)
        patches = ops.reshape(ops.cast(patches, positions.dtype), (1, -1, self.dim))  # (1, h*w, D)
        return ops.concatenate([prefix, patches], axis=1)

    def call(self, inputs):
        static = inputs.shape[1:3]
        dynamic = ops.shape(inputs)
        grid = tuple(s if s is not None else dynamic[i + 1] for i, s in enumerate(static))
        batch = dynamic[0]
        x = ops.reshape(inputs, (batch, -1, self.dim))  # (batch, h*w, D)
        if self.class_token:
            cls = ops.broadcast_to(ops.cast(self.cls_token, x.dtype), (batch, 1, self.dim))
            x = ops.concatenate([cls, x], axis=1)  # (batch, 1 + h*w, D)
        return x + ops.cast(self.resampled_positions(grid), x.dtype)  # (batch, prefix + h*w, D)

    def compute_output_shape(self, input_shape):
        batch, grid_h, grid_w, dim = input_shape
        tokens = None if grid_h is None or grid_w is None else grid_h * grid_w
        return (batch, None if tokens is None else self.num_prefix_tokens + tokens, dim)

    def get_config(self):
        return {
            **super().get_config(),
            "class_token": self.class_token,
            "interpolation": self.interpolation,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            "class_token_initializer": keras.initializers.serialize(self.class_token_initializer),
        }


@keras.saving.register_keras_serializable(package="kerasseq")
class TokenPooling(keras.layers.Layer):
    __doc__ = """Read out one vector per image from the ViT's tokens: the class token or the
    mean of the patch tokens.

        ``"token"``: y = z_L^0 (eq. 4, the class token);
        ``"avg"``:   y = mean_i z_L^i over the patch tokens i, without the class (prefix)
                     tokens (timm's ``global_pool="avg"``).

    Args:
        pool: ``"token"`` or ``"avg"``.
        num_prefix_tokens: number of leading non-patch tokens (1 with a class token, else 0);
            ``"token"`` needs at least one.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Input ``(batch, tokens, D)``; output ``(batch, D)``.

    Example:
    >>> pooled = TokenPooling("avg", num_prefix_tokens=1)(tokens)  # (batch, D)

    References:
        """ + _REFERENCE + """
    """

    def __init__(self, pool: str = "token", num_prefix_tokens: int = 1, **kwargs):
        super().__init__(**kwargs)
        if pool not in ("token", "avg"):
            raise ValueError(f"Expected pool to be 'token' or 'avg'. Received: pool={pool!r}")
        if isinstance(num_prefix_tokens, bool) or not isinstance(num_prefix_tokens, int) \
                or num_prefix_tokens < (1 if pool == "token" else 0):
            raise ValueError("Expected num_prefix_tokens to be an integer >= 0 (>= 1 for "
                             f"pool='token'). Received: num_prefix_tokens={num_prefix_tokens!r}")
        self.pool = pool
        self.num_prefix_tokens = num_prefix_tokens

    def call(self, inputs):
        if self.pool == "token":
            return inputs[:, 0]  # (batch, D)
        return ops.mean(inputs[:, self.num_prefix_tokens:], axis=1)  # (batch, D)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "pool": self.pool,
                "num_prefix_tokens": self.num_prefix_tokens}
