"""Trajectory models of Social LSTM (Alahi et al. 2016): S-LSTM, O-LSTM and the vanilla LSTM
from one builder, and the forecaster that rolls a trained model out over the future."""

from __future__ import annotations

import keras

from kerasseq.layers.social_lstm import SocialLSTM, TrajectoryRollout

LAYER_NAME = "social_lstm"


def build_trajectory_model(pooling: str = "social", frames: int = 20, units: int = 128,
                           embedding_dim: int = 64, grid_size: int = 4, neighborhood: float = 4.0,
                           seed=None, name: str | None = None,
                           teacher_forced_frames: int | None = None) -> keras.Model:
    """The training model: whole windows in, the Gaussian of every next displacement out
    (teacher forcing), for :class:`~kerasseq.losses.BivariateGaussianNLL`.

    Args:
        pooling: ``"social"`` (S-LSTM), ``"occupancy"`` (O-LSTM) or ``"none"`` (vanilla LSTM).
        frames: frames per window (observed + predicted: 20 in the ETH/UCY protocol).
        units, embedding_dim, grid_size, neighborhood, seed: as :class:`SocialLSTM`.
        name: the model's name (default ``"<pooling>_lstm"``).
        teacher_forced_frames: ``None`` for teacher forcing over every frame; ``n`` (e.g. the 8
            observed frames) for closed-loop training: the rest of the window rolled out from
            the model's own means (see :class:`SocialLSTM`; mask the targets of pedestrians
            absent from frame ``n − 1`` with ``training_targets(..., observed=n)``).

    Returns:
        ``keras.Model`` from ``[positions (batch, P, frames, 2), present (batch, P, frames)]``
        to raw ``(μx, μy, log σx, log σy, ρ)`` ``(batch, P, frames − 1, 5)`` of the
        displacements ``x^{t+1} − x^t``.

    Example:
    >>> model = build_trajectory_model("social")
    >>> model.compile("adam", BivariateGaussianNLL())

    References:
        Alahi et al. 2016, "Social LSTM: human trajectory prediction in crowded spaces", CVPR.
    """
    positions = keras.Input((None, frames, 2), name="positions")
    present = keras.Input((None, frames), name="present")
    layer = SocialLSTM(units, embedding_dim, pooling, grid_size, neighborhood, seed=seed,
                       teacher_forced_frames=teacher_forced_frames, name=LAYER_NAME)
    return keras.Model([positions, present], layer([positions, present]),
                       name=name or f"{pooling}_lstm")


def build_trajectory_forecaster(model: keras.Model, observed: int = 8, predicted: int = 12,
                                sample: bool = False) -> keras.Model:
    """The forecaster of a trained :func:`build_trajectory_model` (same weights).

    Args:
        model: the training model.
        observed: observed frames in.
        predicted: frames rolled out.
        sample: feed back sampled displacements (one random future per call) instead of the
            means (the deterministic forecast).

    Returns:
        ``keras.Model`` from ``[positions (batch, P, observed, 2), present (batch, P,
        observed)]`` to ``{"positions": (batch, P, predicted, 2), "gaussians": (batch, P,
        predicted, 5)}`` (``μx, μy, σx, σy, ρ`` of each position).

    Example:
    >>> forecaster = build_trajectory_forecaster(model)
    >>> forecaster.predict([observed_positions, observed_present])["positions"]
    """
    rollout = TrajectoryRollout(model.get_layer(LAYER_NAME), predicted, sample,
                                name="sampler" if sample else "rollout")
    positions = keras.Input((None, observed, 2), name="positions")
    present = keras.Input((None, observed), name="present")
    future, gaussians = rollout([positions, present])
    return keras.Model([positions, present], {"positions": future, "gaussians": gaussians},
                       name=f"{model.name}_{'sampler' if sample else 'forecaster'}")
