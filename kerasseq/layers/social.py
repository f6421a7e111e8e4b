"""Social pooling of Social LSTM (Alahi et al. 2016): each pedestrian sums the hidden states
(S-LSTM) or counts the presence (O-LSTM) of its neighbours on a grid centred on itself.

Both layers work on one time step of a padded scene and are vectorised over pedestrians: the
pairwise offsets ``(batch, P, P, 2)`` are binned into one-hot cells ``(batch, P, P, N₀²)``
(:func:`social_grid_mask`), which one ``einsum`` contracts with the hidden states.
"""

from __future__ import annotations

import math
import numbers

import keras
from keras import ops


def social_grid_mask(positions, present, grid_size: int = 4, neighborhood: float = 2.0):
    """The cell of the grid of pedestrian ``i`` that each other pedestrian ``j`` occupies.

    ``mask[b, i, j, m·N₀ + n] = 1`` when ``j ≠ i``, both are present and
    ``(xⱼ − xᵢ, yⱼ − yᵢ)`` falls in cell ``(m, n)`` of the ``N₀ × N₀`` grid of side
    ``neighborhood`` centred on ``i``; 0 otherwise (``1_mn`` of Alahi et al.'s eq. 1).

    Cell convention: ``m`` indexes x and ``n`` indexes y, both from the low side, with
    ``m = ⌊(Δx + L/2) / (L/N₀)⌋`` for ``L = neighborhood``; a neighbour counts only strictly
    inside the square, ``|Δx| < L/2`` and ``|Δy| < L/2`` (on the outer border or beyond: no
    cell). A neighbour on an inner cell border goes to the cell above it, so for an even
    ``N₀`` one at ``Δ = 0`` lands in cell ``(N₀/2, N₀/2)``. The offsets are binned in float32
    whatever the input dtype.

    Args:
        positions: float ``(..., pedestrians, 2)``: ``(x, y)`` of every pedestrian (e.g. in
            metres). Rows of absent pedestrians may hold anything, NaN included.
        present: bool or 0/1 ``(..., pedestrians)``: who is in the frame (padding: 0).
        grid_size: ``N₀``, the cells on a side of the grid.
        neighborhood: ``L``, the side of the square neighbourhood, in the units of positions.

    Returns:
        float32 ``(..., pedestrians, pedestrians, grid_size²)`` 0/1 tensor (receiver ``i``,
        neighbour ``j``, cell ``m·N₀ + n``); each ``(i, j)`` row has at most one 1.

    Example:
    >>> mask = social_grid_mask(np.array([[[0.0, 0.0], [0.5, 0.0]]]), np.ones((1, 2)), 4, 2.0)
    >>> np.argmax(mask[0, 0, 1])  # j is 0.5 m to the right of i: cell (m, n) = (3, 2)
    14

    References:
        Alahi, Goel, Ramanathan, Robicquet, Fei-Fei and Savarese 2016, "Social LSTM: human
        trajectory prediction in crowded spaces", CVPR (section 3.1, eq. 1 and fig. 3).
    """
    positions = ops.cast(positions, "float32")
    half, cell = neighborhood / 2.0, neighborhood / grid_size
    # Δ[..., i, j] = pⱼ − pᵢ: where j stands, seen from i.
    offsets = ops.expand_dims(positions, -3) - ops.expand_dims(positions, -2)  # (..., P, P, 2)
    inside = ops.all(ops.abs(offsets) < half, axis=-1)  # (..., P, P); False for NaN offsets
    offsets = ops.where(ops.expand_dims(inside, -1), offsets, 0.0)  # keep NaN out of the casts
    # The clip only guards float rounding of Δ just below L/2 up to index N₀.
    index = ops.clip(ops.floor((offsets + half) / cell), 0, grid_size - 1)
    index = ops.cast(index, "int32")  # (..., P, P, 2): (m, n)
    cells = ops.one_hot(index[..., 0] * grid_size + index[..., 1], grid_size * grid_size,
                        dtype="float32")  # (..., P, P, N₀²)

    present = ops.cast(present, "float32")  # (..., P)
    peds = ops.shape(present)[-1]
    others = ops.cast(ops.not_equal(ops.expand_dims(ops.arange(peds), -1),
                                    ops.expand_dims(ops.arange(peds), 0)), "float32")  # (P, P)
    keep = (ops.expand_dims(present, -1) * ops.expand_dims(present, -2) * others
            * ops.cast(inside, "float32"))  # (..., P, P)
    return cells * ops.expand_dims(keep, -1)


def _check_grid(grid_size, neighborhood, flatten):
    if (isinstance(grid_size, bool) or not isinstance(grid_size, numbers.Real)
            or not math.isfinite(grid_size) or int(grid_size) != grid_size or grid_size < 1):
        raise ValueError(f"Expected a positive integer grid_size. Received: grid_size={grid_size!r}")
    size = float(neighborhood) if isinstance(neighborhood, numbers.Real) else math.nan
    if isinstance(neighborhood, bool) or not (math.isfinite(size) and size > 0):
        raise ValueError(f"Expected a finite neighborhood > 0. Received: neighborhood={neighborhood!r}")
    if not isinstance(flatten, bool):
        raise ValueError(f"Expected a bool flatten. Received: flatten={flatten!r}")
    return int(grid_size), size, flatten


def _check_scene(input_shape, names):
    """``input_shape``: the shapes of ``names`` (positions first, present last)."""
    shapes = list(input_shape) if isinstance(input_shape, (list, tuple)) and input_shape \
        and isinstance(input_shape[0], (list, tuple)) else None
    if shapes is None or len(shapes) != len(names):
        raise ValueError(f"Expected the list of inputs [{', '.join(names)}]. "
                         f"Received: input_shape={input_shape}")
    positions, present = shapes[0], shapes[-1]
    ranks = [3] * (len(names) - 1) + [2]
    if [len(s) for s in shapes] != ranks or positions[-1] != 2:
        raise ValueError(f"Expected positions (batch, pedestrians, 2), hidden (batch, "
                         f"pedestrians, units) and present (batch, pedestrians). Received: "
                         f"input_shape={input_shape}")
    peds = {s[1] for s in shapes} - {None}
    if len(peds) > 1:
        raise ValueError(f"Expected the same number of pedestrians in every input. Received: "
                         f"input_shape={input_shape}")


@keras.saving.register_keras_serializable(package="kerasseq")
class SocialPooling(keras.layers.Layer):
    """Social LSTM's social hidden-state tensor: each pedestrian's neighbours' hidden states
    summed on a grid centred on it.

    ``Hᵢ(m, n, :) = Σ_{j ≠ i} 1_mn[xⱼ − xᵢ, yⱼ − yᵢ] hⱼ`` (Alahi et al.'s eq. 1), for the
    ``N₀ × N₀`` cells of a square of side ``neighborhood`` centred on pedestrian ``i``; cell
    ``(m, n)`` has ``m`` along x and ``n`` along y, and a neighbour on the outer border or
    beyond is in no cell (:func:`social_grid_mask` gives the exact convention). Pedestrians
    absent from the frame (``present`` 0: padding, or not yet/no longer in the scene) neither
    receive nor contribute: their output rows are 0. Social LSTM feeds
    ``aᵢ = ReLU(W_a · flatten(Hᵢ))`` into pedestrian i's LSTM with its position embedding;
    ``flatten=True`` gives the flat form for that ``Dense``.

    No weights. The positions are binned in float32 (the layer does not autocast them: in
    float16 a position of 10 m moves by up to 4 mm, enough to cross a cell border); the hidden
    states are summed in the compute dtype. Absent pedestrians' positions and hidden states
    may hold anything, NaN included.

    Args:
        grid_size: ``N₀``, cells on a side of the grid (default 4: the paper pools a
            32-pixel neighbourhood in 8 × 8 windows).
        neighborhood: side of the square neighbourhood in the units of the positions
            (default 2.0: metres, 0.5 m cells).
        flatten: return ``(batch, pedestrians, grid_size² · units)`` (cell-major) instead of
            ``(batch, pedestrians, grid_size, grid_size, units)``.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: ``[positions, hidden, present]``: float ``(batch, pedestrians, 2)``, float
            ``(batch, pedestrians, units)`` (the LSTM states at ``t − 1``) and bool or 0/1
            ``(batch, pedestrians)``.

    Example:
    >>> pool = SocialPooling(grid_size=4, neighborhood=2.0, flatten=True)
    >>> pool([positions, hidden, present]).shape  # (8, 20, 2), (8, 20, 128), (8, 20)
    (8, 20, 2048)

    References:
        Alahi, Goel, Ramanathan, Robicquet, Fei-Fei and Savarese 2016, "Social LSTM: human
        trajectory prediction in crowded spaces", CVPR (section 3.1, eqs. 1-3).
    """

    def __init__(self, grid_size: int = 4, neighborhood: float = 2.0, flatten: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.grid_size, self.neighborhood, self.flatten = _check_grid(grid_size, neighborhood, flatten)
        self.autocast = False  # positions stay float32; hidden is cast in call()

    def build(self, input_shape):
        _check_scene(input_shape, ("positions", "hidden", "present"))

    def call(self, inputs):
        positions, hidden, present = inputs
        present = ops.cast(present, "bool")
        hidden = ops.cast(hidden, self.compute_dtype)
        # Zero the absent rows so that NaN padding cannot leak through 0 · NaN.
        hidden = ops.where(ops.expand_dims(present, -1), hidden, 0.0)  # (batch, P, units)
        mask = social_grid_mask(positions, present, self.grid_size, self.neighborhood)
        mask = ops.cast(mask, self.compute_dtype)  # (batch, P, P, N₀²)
        pooled = ops.einsum("bijc,bjd->bicd", mask, hidden)  # (batch, P, N₀², units)
        shape = ops.shape(hidden)
        units = hidden.shape[-1] if hidden.shape[-1] is not None else shape[2]
        if self.flatten:
            return ops.reshape(pooled, (shape[0], shape[1], self.grid_size ** 2 * units))
        return ops.reshape(pooled, (shape[0], shape[1], self.grid_size, self.grid_size, units))

    def compute_output_shape(self, input_shape):
        batch, peds, units = input_shape[1]
        if self.flatten:
            return (batch, peds, None if units is None else self.grid_size ** 2 * units)
        return (batch, peds, self.grid_size, self.grid_size, units)

    def get_config(self):
        return {**super().get_config(), "grid_size": self.grid_size,
                "neighborhood": self.neighborhood, "flatten": self.flatten}


@keras.saving.register_keras_serializable(package="kerasseq")
class OccupancyPooling(keras.layers.Layer):
    """O-LSTM's occupancy map: how many neighbours stand in each cell of a grid centred on
    each pedestrian.

    ``Oᵢ(m, n) = Σ_{j ≠ i} 1_mn[xⱼ − xᵢ, yⱼ − yᵢ]`` (Alahi et al., section 3.1, "Occupancy
    map pooling"): :class:`SocialPooling` with a hidden state of 1, so the same grid,
    cell convention and presence rules (absent pedestrians count for nothing, get zeros).

    Args:
        grid_size: ``N₀``, cells on a side of the grid.
        neighborhood: side of the square neighbourhood in the units of the positions.
        flatten: return ``(batch, pedestrians, grid_size²)`` instead of
            ``(batch, pedestrians, grid_size, grid_size)``.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: ``[positions, present]``: float ``(batch, pedestrians, 2)`` and bool or 0/1
            ``(batch, pedestrians)``.

    Example:
    >>> OccupancyPooling(4, 2.0)([positions, present]).shape  # (8, 20, 2), (8, 20)
    (8, 20, 4, 4)

    References:
        Alahi et al. 2016, "Social LSTM: human trajectory prediction in crowded spaces", CVPR.
    """

    def __init__(self, grid_size: int = 4, neighborhood: float = 2.0, flatten: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.grid_size, self.neighborhood, self.flatten = _check_grid(grid_size, neighborhood, flatten)
        self.autocast = False  # positions stay float32

    def build(self, input_shape):
        _check_scene(input_shape, ("positions", "present"))

    def call(self, inputs):
        positions, present = inputs
        mask = social_grid_mask(positions, present, self.grid_size, self.neighborhood)
        counts = ops.cast(ops.sum(mask, axis=2), self.compute_dtype)  # (batch, P, N₀²)
        if self.flatten:
            return counts
        shape = ops.shape(counts)
        return ops.reshape(counts, (shape[0], shape[1], self.grid_size, self.grid_size))

    def compute_output_shape(self, input_shape):
        batch, peds, _ = input_shape[0]
        if self.flatten:
            return (batch, peds, self.grid_size ** 2)
        return (batch, peds, self.grid_size, self.grid_size)

    def get_config(self):
        return {**super().get_config(), "grid_size": self.grid_size,
                "neighborhood": self.neighborhood, "flatten": self.flatten}
