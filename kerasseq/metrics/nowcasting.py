"""Nowcasting scores per lead time: MSE, MAE, SSIM, the per-sequence cross-entropy of Shi et al.,
and the categorical scores of precipitation verification (CSI, POD, FAR at rain-rate
thresholds). NumPy and SciPy only: they score Keras models and optical-flow baselines alike.
"""

from __future__ import annotations

import numpy as np

RADAR_THRESHOLDS = (0.5, 2.0, 5.0, 10.0)  # mm/h


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size) - (size - 1) / 2
    w = np.exp(-(x ** 2) / (2 * sigma ** 2))
    return w / w.sum()


def _filter_valid(x: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable correlation over the last two axes, 'valid' borders (as ``tf.image.ssim``)."""
    from numpy.lib.stride_tricks import sliding_window_view

    x = sliding_window_view(x, len(window), axis=-1) @ window  # (..., H, W - s + 1)
    return np.swapaxes(sliding_window_view(np.swapaxes(x, -1, -2), len(window), axis=-1) @ window,
                       -1, -2)


def ssim(a, b, data_range: float = 1.0, filter_size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Structural similarity (Wang et al. 2004) of frames ``(..., H, W)``, one value per frame.

    An 11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03 and 'valid' borders: the same
    numbers as ``tf.image.ssim`` and scikit-image's ``structural_similarity(...,
    gaussian_weights=True, use_sample_covariance=False)`` up to border handling.

    Args:
        a, b: frames of equal shape ``(..., H, W)``, H and W at least ``filter_size``.
        data_range: the value range of the frames (1 for [0, 1] images).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim < 2 or min(a.shape[-2:]) < filter_size:
        raise ValueError(f"Expected two arrays of equal shape (..., H, W) with H, W >= "
                         f"{filter_size}. Received: {a.shape} and {b.shape}")
    window = _gaussian_window(filter_size, sigma)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = _filter_valid(a, window), _filter_valid(b, window)
    var_a = _filter_valid(a * a, window) - mu_a ** 2
    var_b = _filter_valid(b * b, window) - mu_b ** 2
    cov = _filter_valid(a * b, window) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return index.mean(axis=(-2, -1))


def binary_cross_entropy(predictions, targets, epsilon: float = 1e-3) -> np.ndarray:
    """Per-frame sum of the pixels' binary cross-entropy (nats), predictions clipped to
    ``[epsilon, 1 − epsilon]`` so that hard-valued baselines (persistence) get a finite score.
    Summed over a sequence's frames this is Shi et al.'s Table 1 cross-entropy."""
    p = np.clip(np.asarray(predictions, np.float64), epsilon, 1 - epsilon)
    t = np.asarray(targets, np.float64)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum(axis=(-2, -1))


class NowcastScores:
    """Accumulates scores per lead time over batches of ``(n, K, H, W)`` forecasts.

    MSE and MAE are means over the valid pixels (``mask``: True inside radar coverage;
    everything when no mask is given); SSIM and cross-entropy are means over frames; CSI, POD
    and FAR come from the contingency table summed over every valid pixel of every forecast
    (hits H, misses M, false alarms F: CSI = H / (H + M + F), POD = H / (H + M),
    FAR = F / (H + F)), the convention of precipitation verification.

    Args:
        lead_times: K.
        thresholds: rain-rate thresholds of the categorical scores (none for Moving MNIST).
        ssim_range: ``data_range`` of SSIM, or ``None`` to skip it.
        ssim_transform: applied to both frames before SSIM (e.g. the log scaling of rain).
        cross_entropy: also score the per-frame binary cross-entropy (targets in [0, 1]).

    Example:
    >>> scores = NowcastScores(12, thresholds=RADAR_THRESHOLDS)
    >>> scores.update(predictions, truth, mask)
    >>> scores.result()["csi_2"]  # (12,) one value per lead time
    """

    def __init__(self, lead_times: int, thresholds=(), ssim_range: float | None = 1.0,
                 ssim_transform=None, cross_entropy: bool = False):
        self.lead_times, self.thresholds = lead_times, tuple(thresholds)
        self.ssim_range, self.ssim_transform, self.cross_entropy = ssim_range, ssim_transform, cross_entropy
        self.sums = {name: np.zeros(lead_times) for name in ("se", "ae", "pixels", "frames", "ssim", "ce")}
        self.table = np.zeros((len(self.thresholds), 3, lead_times))  # hits, misses, false alarms

    def update(self, predictions, targets, mask=None) -> None:
        p, t = np.asarray(predictions, np.float64), np.asarray(targets, np.float64)
        if p.shape != t.shape or p.ndim != 4 or p.shape[1] != self.lead_times:
            raise ValueError(f"Expected predictions and targets of shape (n, {self.lead_times}, H, "
                             f"W). Received: {p.shape} and {t.shape}")
        m = np.ones(p.shape, bool) if mask is None else np.broadcast_to(np.asarray(mask, bool), p.shape)
        axes = (0, 2, 3)
        self.sums["se"] += (((p - t) ** 2) * m).sum(axes)
        self.sums["ae"] += (np.abs(p - t) * m).sum(axes)
        self.sums["pixels"] += m.sum(axes)
        self.sums["frames"] += len(p)
        if self.ssim_range is not None:
            f = self.ssim_transform or (lambda x: x)
            self.sums["ssim"] += ssim(f(p), f(t), self.ssim_range).sum(0)
        if self.cross_entropy:
            self.sums["ce"] += binary_cross_entropy(p, t).sum(0)
        for i, threshold in enumerate(self.thresholds):
            forecast, observed = (p >= threshold) & m, (t >= threshold) & m
            self.table[i, 0] += (forecast & observed).sum(axes)
            self.table[i, 1] += (~forecast & observed).sum(axes)
            self.table[i, 2] += (forecast & ~observed).sum(axes)

    def result(self) -> dict[str, np.ndarray]:
        """Per-lead arrays: ``mse``, ``mae``, ``ssim``, ``cross_entropy`` (per frame) and
        ``csi_<t>``, ``pod_<t>``, ``far_<t>`` per threshold (NaN where undefined)."""
        s = self.sums
        with np.errstate(invalid="ignore", divide="ignore"):
            out = {"mse": s["se"] / s["pixels"], "mae": s["ae"] / s["pixels"]}
            if self.ssim_range is not None:
                out["ssim"] = s["ssim"] / s["frames"]
            if self.cross_entropy:
                out["cross_entropy"] = s["ce"] / s["frames"]
            for threshold, (hits, misses, false) in zip(self.thresholds, self.table):
                key = f"{threshold:g}"
                out[f"csi_{key}"] = hits / (hits + misses + false)
                out[f"pod_{key}"] = hits / (hits + misses)
                out[f"far_{key}"] = false / (hits + false)
        return out
