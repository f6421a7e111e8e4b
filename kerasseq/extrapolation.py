"""Extrapolation baselines for nowcasting: persistence and optical-flow advection.

:func:`persistence` repeats the last observed frame. :func:`optical_flow_extrapolation`
estimates a motion field from the observed frames with pysteps' Lucas–Kanade optical flow
(Lucas & Kanade 1981; pysteps, Pulkkinen et al. 2019) and advects the last frame along it with
the semi-Lagrangian scheme (Germann & Zawadzki 2002): the pysteps "extrapolation nowcast",
today's equivalent of the ROVER optical-flow baseline of Shi et al. (2015).

Both take ``(batch, input_frames, height, width)`` non-negative fields (rain rates in mm/h or
pixel intensities in [0, 1]) and return ``(batch, output_frames, height, width)`` float32.

References:
    Lucas, B. D. and Kanade, T.: An iterative image registration technique with an application
    to stereo vision, Proc. 1981 DARPA Imaging Understanding Workshop, 121–130, 1981.
    Germann, U. and Zawadzki, I.: Scale-dependence of the predictability of precipitation from
    continental radar images. Part I, Mon. Wea. Rev., 130, 2859–2873, 2002.
    Pulkkinen, S. et al.: Pysteps: an open-source Python library for probabilistic
    precipitation nowcasting (v1.0), Geosci. Model Dev., 12, 4185–4219, 2019.
    Shi, X. et al.: Convolutional LSTM network: a machine learning approach for precipitation
    nowcasting, NeurIPS 2015.
"""

from __future__ import annotations

import warnings

import numpy as np


def _check(inputs, output_frames) -> np.ndarray:
    inputs = np.asarray(inputs)
    if inputs.ndim != 4 or output_frames < 1:
        raise ValueError("Expected inputs of shape (batch, input_frames, height, width) and "
                         f"output_frames >= 1. Received: inputs.shape={inputs.shape}, "
                         f"output_frames={output_frames}")
    return inputs


def persistence(inputs, output_frames: int) -> np.ndarray:
    """The last observed frame, repeated: ``(B, J, H, W) -> (B, K, H, W)`` float32.

    Args:
        inputs: observed frames ``(batch, input_frames, height, width)``.
        output_frames: frames K to predict.
    """
    inputs = _check(inputs, output_frames)
    return np.repeat(inputs[:, -1:].astype(np.float32), output_frames, axis=1)


def optical_flow_extrapolation(inputs, output_frames: int, method: str = "LK",
                               threshold: float = 0.1, inflow: str = "zero",
                               motion_kwargs: dict | None = None) -> np.ndarray:
    """Advect the last observed frame along the motion of the observed ones.

    Per sequence: the frames are put in dB as in pysteps' extrapolation-nowcast example,
    ``10·log10(x)`` for ``x >= threshold`` and -15 dB below (so that light and heavy rain give
    the feature tracker comparable contrast); the motion field ``(2, H, W)`` in pixels per
    frame is estimated from all J frames with ``pysteps.motion.get_method(method)`` (default
    dense Lucas–Kanade: Shi–Tomasi corners tracked by OpenCV's pyramidal Lucas–Kanade, pooled
    over the J - 1 frame pairs, interpolated to every pixel); the last frame is advected K
    steps by ``pysteps.extrapolation.semilagrangian.extrapolate`` (bilinear interpolation).
    Unlike the example, the advected field is the input itself, not its dB transform, so
    units are kept, values below ``threshold`` survive and blurring averages rain rates
    rather than decibels. Without detectable motion (a dry or constant input) the result is
    persistence.

    Args:
        inputs: observed frames ``(batch, input_frames, height, width)``, non-negative and
            finite (NaN, e.g. outside radar coverage, is read as 0).
        output_frames: frames K to predict.
        method: a pysteps motion method name ("LK", "DARTS", "VET", "proesmans").
        threshold: smallest value counted as signal when estimating the motion (0.1 suits
            rain rates in mm/h and [0, 1] intensities alike).
        inflow: what flows in across the border: ``"zero"`` (pysteps' scheme with
            ``outval=0``) or ``"edge"`` (the nearest border value, held; on small radar
            crops it raises CSI at long leads but also the MSE there).
        motion_kwargs: extra keyword arguments of the motion method.

    Returns:
        float32 ``(batch, output_frames, height, width)``, non-negative and finite.
    """
    from kerasseq.data.radar import import_pysteps

    import_pysteps()
    from pysteps import extrapolation, motion

    if inflow not in ("zero", "edge"):
        raise ValueError(f"Expected inflow to be 'zero' or 'edge'. Received: inflow={inflow!r}")
    mode = "constant" if inflow == "zero" else "nearest"
    inputs = np.nan_to_num(_check(inputs, output_frames).astype(np.float64), nan=0.0)
    if inputs.shape[1] < 2:
        raise ValueError(f"Expected at least 2 input frames to estimate motion. "
                         f"Received: inputs.shape={inputs.shape}")
    estimate, advect = motion.get_method(method), extrapolation.get_method("semilagrangian")
    outputs = np.empty((len(inputs), output_frames, *inputs.shape[2:]), np.float32)
    for i, frames in enumerate(inputs):  # (J, H, W)
        db = np.where(frames >= threshold, 10.0 * np.log10(np.maximum(frames, threshold)), -15.0)
        with warnings.catch_warnings():  # identical vectors (rigid motion) are not outliers
            warnings.filterwarnings("ignore", "Singular matrix during outlier detection")
            velocity = estimate(db, **(motion_kwargs or {}))  # (2, H, W): x, y pixels per frame
        outputs[i] = advect(frames[-1], velocity, output_frames, outval=0.0,
                            map_coordinates_mode=mode)
    return np.clip(np.nan_to_num(outputs, nan=0.0), 0.0, None)
