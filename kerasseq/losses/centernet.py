"""CenterNet's training loss (Zhou et al. 2019, "Objects as Points"): Gaussian centre heatmaps
rendered from the packed detection targets, a penalty-reduced focal loss on them, and L1 size
and offset losses at the object centres (backend-agnostic)."""

from __future__ import annotations

import keras
from keras import ops


def gaussian_radius(height, width, min_overlap=0.7):
    """CornerNet's Gaussian radius: how far a corner may move and the box keep IoU ≥ min_overlap.

    The smallest root of the three quadratics of CornerNet (one corner inside, both inside,
    both outside), written exactly as in the CornerNet and CenterNet reference code (which
    halves ``b + √Δ`` rather than dividing by 2a; the radius CenterNet's results rest on).

    Args:
        height: ``(...)`` box heights, in output cells.
        width: ``(...)`` box widths, in output cells (the same shape as ``height``).
        min_overlap: the IoU a box displaced by the radius still has with the original.

    Returns:
        ``(...)`` float radii (not yet rounded down).

    Example:
    >>> gaussian_radius(np.array([4.0]), np.array([4.0]))  # [1.09]

    References:
        Law & Deng 2018, "CornerNet: detecting objects as paired keypoints", §3.2; Zhou et al.
        2019, "Objects as points", §3.
    """
    height, width = ops.convert_to_tensor(height), ops.convert_to_tensor(width)
    total, area = height + width, height * width  # (...) each
    b1, c1 = total, area * (1.0 - min_overlap) / (1.0 + min_overlap)
    r1 = (b1 + ops.sqrt(ops.maximum(b1 * b1 - 4.0 * c1, 0.0))) / 2.0
    b2, c2 = 2.0 * total, (1.0 - min_overlap) * area
    r2 = (b2 + ops.sqrt(ops.maximum(b2 * b2 - 16.0 * c2, 0.0))) / 2.0
    a3, b3, c3 = 4.0 * min_overlap, -2.0 * min_overlap * total, (min_overlap - 1.0) * area
    r3 = (b3 + ops.sqrt(ops.maximum(b3 * b3 - 4.0 * a3 * c3, 0.0))) / 2.0
    return ops.minimum(ops.minimum(r1, r2), r3)  # (...)


def render_centernet_targets(y_true, height, width, num_classes, min_overlap=0.7):
    """CenterNet's training targets on an output grid, from packed detection targets.

    Each object (label c, box cx, cy, w, h) puts on channel c a Gaussian
    exp(−((x − x̃)² + (y − ỹ)²) / 2σ²), truncated to the square |x − x̃|, |y − ỹ| ≤ r, at
    its centre cell (x̃, ỹ) = ⌊(cx·width, cy·height)⌋; r = ⌊gaussian_radius(⌈h·height⌉,
    ⌈w·width⌉, min_overlap)⌋ (:func:`gaussian_radius`) and σ = (2r + 1)/6, as in CenterNet's
    ``draw_umich_gaussian``; objects of one class overlap by their maximum. The offset target
    is the centre's sub-cell position (cx·width − x̃, cy·height − ỹ) in cells, the size target
    the normalised (w, h). Vectorised over the objects; traces with a symbolic batch.

    Args:
        y_true: float ``(batch, targets, 5)``: ``(label, cx, cy, w, h)``, boxes normalised to
            [0, 1]; label −1 on padding rows (which render nothing). ``targets`` ≥ 1: a batch
            without objects still has a padding row.
        height: rows of the output grid.
        width: columns of the output grid.
        num_classes: number of classes C.
        min_overlap: the IoU the Gaussian radius preserves.

    Returns:
        A dict: ``heatmap`` ``(batch, height, width, C)`` in [0, 1], 1 exactly at each centre;
        ``indices`` int32 ``(batch, targets)``: the centre cell ỹ·width + x̃; ``size``
        ``(batch, targets, 2)``; ``offset`` ``(batch, targets, 2)``; ``mask`` float
        ``(batch, targets)``: 1 for objects, 0 for padding.

    Example:
    >>> targets = render_centernet_targets(np.array([[[3, 0.5, 0.5, 0.25, 0.25]]]), 32, 32, 10)
    >>> targets["heatmap"].shape  # (1, 32, 32, 10), 1.0 at [0, 16, 16, 3]
    """
    y_true = ops.cast(y_true, "float32")
    labels = ops.cast(y_true[..., 0], "int32")  # (B, T)
    mask = ops.cast(labels >= 0, "float32")  # (B, T)
    boxes = ops.where(mask[..., None] > 0, y_true[..., 1:5], 0.0)  # (B, T, 4): padding may hold anything
    grid = ops.convert_to_tensor([width, height], "float32")  # (2,): x, then y
    centre = boxes[..., :2] * grid  # (B, T, 2), in cells
    cell = ops.clip(ops.floor(centre), 0.0, grid - 1.0)  # (B, T, 2)
    size_cells = ops.ceil(boxes[..., 2:] * grid)  # (B, T, 2)
    radius = gaussian_radius(size_cells[..., 1], size_cells[..., 0], min_overlap)  # (B, T)
    radius = ops.floor(ops.maximum(radius, 0.0))  # (B, T)
    sigma = (2.0 * radius + 1.0) / 6.0  # (B, T)

    def profile(positions, centres):  # the Gaussian along one axis, zero outside the radius
        distance = positions - centres[..., None]  # (B, T, n)
        inside = ops.cast(ops.abs(distance) <= radius[..., None], "float32")  # (B, T, n)
        return ops.exp(-ops.square(distance) / (2.0 * ops.square(sigma[..., None]))) * inside  # (B, T, n)

    gauss_x = profile(ops.arange(width, dtype="float32"), cell[..., 0])  # (B, T, W)
    gauss_y = profile(ops.arange(height, dtype="float32"), cell[..., 1])  # (B, T, H)
    gauss = gauss_y[..., :, None] * gauss_x[..., None, :]  # (B, T, H, W): separable
    classes = ops.one_hot(ops.maximum(labels, 0), num_classes) * mask[..., None]  # (B, T, C)
    heatmap = ops.max(gauss[..., None] * classes[:, :, None, None, :], axis=1)  # (B, H, W, C)
    cell_int = ops.cast(cell, "int32")  # (B, T, 2)
    return {
        "heatmap": heatmap,
        "indices": cell_int[..., 1] * width + cell_int[..., 0],  # (B, T)
        "size": boxes[..., 2:],  # (B, T, 2)
        "offset": centre - cell,  # (B, T, 2)
        "mask": mask,  # (B, T)
    }


def centernet_focal_loss(heatmap, logits):
    """CenterNet's penalty-reduced pixel-wise focal loss, summed (not yet normalised).

    With p = σ(logits) and Y the target heatmap,

        L = −Σ_xyc { (1 − p)^α log p                   if Y = 1
                   { (1 − Y)^β p^α log(1 − p)           otherwise,      α = 2, β = 4;

    log p and log(1 − p) are taken as log-sigmoids (stable; the reference code clamps p to
    [1e-4, 1 − 1e-4] instead). Divide by the number of objects for the paper's L_k.

    Args:
        heatmap: ``(batch, height, width, C)`` targets in [0, 1], exactly 1 at the centres.
        logits: ``(batch, height, width, C)`` heatmap logits.

    Returns:
        A scalar: the sum over batch, positions and classes.

    Example:
    >>> loss = centernet_focal_loss(targets["heatmap"], y_pred[..., :num_classes]) / num_objects

    References:
        Zhou et al. 2019, "Objects as points", eq. (1); Law & Deng 2018, "CornerNet".
    """
    heatmap, logits = ops.cast(heatmap, "float32"), ops.cast(logits, "float32")
    positive = ops.cast(ops.equal(heatmap, 1.0), "float32")  # (B, H, W, C)
    probability = ops.sigmoid(logits)  # (B, H, W, C)
    positive_loss = ops.square(1.0 - probability) * ops.log_sigmoid(logits) * positive  # (B, H, W, C)
    negative_loss = (ops.power(1.0 - heatmap, 4.0) * ops.square(probability)
                     * ops.log_sigmoid(-logits) * (1.0 - positive))  # (B, H, W, C)
    return -ops.sum(positive_loss + negative_loss)


@keras.saving.register_keras_serializable(package="kerasseq")
class CenterNetLoss(keras.losses.Loss):
    """CenterNet's detection loss on packed targets: focal heatmap + L1 size + L1 offset.

    L = L_k + size_weight·L_size + offset_weight·L_off (Zhou et al. 2019, eq. (1)–(3)), with N
    the number of objects in the batch (at least 1):

    - L_k: :func:`centernet_focal_loss` of the predicted heatmap logits against the Gaussian
      heatmaps :func:`render_centernet_targets` draws (CornerNet radius, IoU 0.7), over N;
    - L_size: Σ_objects mean_{w,h} |ŝ − s| / N, ŝ read at the object's centre cell, s the
      normalised (w, h) (the paper regresses sizes in pixels; an L1 gradient does not depend
      on the unit);
    - L_off: Σ_objects mean_{x,y} |ô − o| / N, o the sub-cell centre offset, in cells.

    (The mean over the two coordinates is CenterNet's ``RegL1Loss``, which divides by the
    number of masked entries.) Normalised over the whole batch, as in CenterNet, so the loss
    returns one scalar and ``reduction`` does not apply; pass no ``sample_weight``. Padding
    rows (label −1) add nothing; an image without objects adds only focal negatives. The
    targets are rendered inside the loss, vectorised over objects: it traces under ``jit``
    with a symbolic batch. The output grid is read from ``y_pred``, so any output stride works.

    ``y_true``: float ``(batch, targets, 5)`` = ``(label, cx, cy, w, h)``, boxes normalised.
    ``y_pred``: ``(batch, height, width, C + 4)``: heatmap logits, size (w, h), offset (x, y),
    as :func:`kerasseq.models.build_centernet` outputs them.

    Args:
        num_classes: number of classes C.
        size_weight: weight of L_size (λ_size = 0.1 in the paper).
        offset_weight: weight of L_off (λ_off = 1).
        name: loss name.
        dtype: dtype of the loss computation (``None``: ``keras.config.floatx()``); the
            targets and sums are float32 in any case.

    Example:
    >>> model = build_centernet(num_classes=10)
    >>> model.compile("adam", loss=CenterNetLoss(num_classes=10), jit_compile=True)
    >>> model.fit(images, y_true)  # y_true: (batch, targets, 5), label -1 on padding

    References:
        Zhou, Wang & Krähenbühl 2019, "Objects as points", arXiv:1904.07850.
    """

    def __init__(self, num_classes, size_weight=0.1, offset_weight=1.0, name="centernet_loss", dtype=None):
        if int(num_classes) < 1:
            raise ValueError(f"Expected num_classes >= 1. Received: num_classes={num_classes}")
        super().__init__(name=name, reduction="sum_over_batch_size", dtype=dtype)
        self.num_classes = int(num_classes)
        self.size_weight = float(size_weight)
        self.offset_weight = float(offset_weight)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        _, height, width, channels = ops.shape(y_pred)
        if channels != self.num_classes + 4:
            raise ValueError(f"Expected y_pred with num_classes + 4 = {self.num_classes + 4} channels. "
                             f"Received: y_pred.shape={y_pred.shape}")
        targets = render_centernet_targets(y_true, height, width, self.num_classes)
        num_objects = ops.maximum(ops.sum(targets["mask"]), 1.0)  # (), N
        focal = centernet_focal_loss(targets["heatmap"], y_pred[..., : self.num_classes]) / num_objects

        regression = ops.reshape(y_pred[..., self.num_classes :], (-1, height * width, 4))  # (B, HW, 4)
        indices = ops.repeat(targets["indices"][..., None], 4, axis=-1)  # (B, T, 4)
        at_centres = ops.take_along_axis(regression, indices, axis=1)  # (B, T, 4)
        mask = targets["mask"][..., None]  # (B, T, 1)
        size = ops.sum(ops.abs(at_centres[..., :2] - targets["size"]) * mask) / (2.0 * num_objects)
        offset = ops.sum(ops.abs(at_centres[..., 2:] - targets["offset"]) * mask) / (2.0 * num_objects)
        return focal + self.size_weight * size + self.offset_weight * offset  # ()

    def get_config(self):
        return {"num_classes": self.num_classes, "size_weight": self.size_weight,
                "offset_weight": self.offset_weight, "name": self.name, "dtype": self.dtype}
