"""SocialLSTM: the three variants from one layer, pooling that sees exactly the neighbours it
should, a rollout consistent with teacher forcing, and .keras round trips (TF and JAX)."""

import numpy as np
import pytest
import keras

from kerasseq.layers import SocialLSTM, TrajectoryRollout
from kerasseq.models import build_trajectory_forecaster, build_trajectory_model


def _scene(frames=6, peds=3, seed=0):
    rng = np.random.default_rng(seed)
    start = rng.uniform(-1, 1, (1, peds, 1, 2))
    velocity = rng.normal(0, 0.3, (1, peds, 1, 2))
    positions = (start + velocity * np.arange(frames)[None, None, :, None]).astype("float32")
    return positions, np.ones((1, peds, frames), "float32")


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("pooling", ["social", "occupancy", "none"])
def test_shapes_and_keras_round_trip(pooling, tmp_path):
    model = build_trajectory_model(pooling, frames=6, units=8, embedding_dim=4, grid_size=2,
                                   neighborhood=2.0, seed=1)
    positions, present = _scene()
    params = _np(model([positions, present]))
    assert params.shape == (1, 3, 5, 5) and np.isfinite(params).all()
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(_np(keras.saving.load_model(tmp_path / "m.keras")([positions, present])),
                               params, atol=1e-6)
    forecaster = build_trajectory_forecaster(model, observed=6, predicted=4)
    out = forecaster([positions, present])
    forecaster.save(tmp_path / "f.keras")
    again = keras.saving.load_model(tmp_path / "f.keras")([positions, present])
    for key, shape in (("positions", (1, 3, 4, 2)), ("gaussians", (1, 3, 4, 5))):
        assert tuple(out[key].shape) == shape
        np.testing.assert_allclose(_np(again[key]), _np(out[key]), atol=1e-6)


@pytest.mark.parametrize("pooling", ["social", "occupancy", "none"])
def test_pooling_sees_only_neighbours_inside_the_grid(pooling):
    keras.utils.set_random_seed(0)  # the same weights whatever ran before in this process
    layer = SocialLSTM(8, 4, pooling, grid_size=2, neighborhood=2.0, seed=0)
    positions, present = _scene(peds=1)
    alone = _np(layer([positions, present]))
    far = np.concatenate([positions, positions + 50.0], axis=1)  # a second pedestrian 50 m away
    near = np.concatenate([positions, positions + 0.3], axis=1)  # one inside the 2 m grid
    with_far = _np(layer([far, np.ones((1, 2, 6), "float32")]))
    with_near = _np(layer([near, np.ones((1, 2, 6), "float32")]))
    np.testing.assert_allclose(with_far[:, :1], alone, atol=1e-6)
    if pooling == "none":
        np.testing.assert_allclose(with_near[:, :1], alone, atol=1e-6)
    else:
        # A neighbour inside the grid changes the outputs far beyond the 1e-6 that counts
        # as "no change" above (by 2e-3 with these weights; unseeded, as little as 1e-4).
        assert np.abs(with_near[:, :1] - alone).max() > 1e-5
    # Absent pedestrians (padding, NaN positions) change nothing for the others.
    padded = np.concatenate([near, np.full_like(positions, np.nan)], axis=1)
    mask = np.concatenate([np.ones((1, 2, 6)), np.zeros((1, 1, 6))], axis=1).astype("float32")
    np.testing.assert_allclose(_np(layer([padded, mask]))[:, :2], with_near, atol=1e-6)


def test_the_vanilla_variant_is_a_keras_lstm_per_pedestrian():
    layer = SocialLSTM(6, 4, "none", seed=0)
    positions, present = _scene(frames=5, peds=2)
    params = _np(layer([positions, present]))
    steps = np.concatenate([np.zeros((1, 2, 1, 2)), np.diff(positions, axis=2)], axis=2)
    embed_w, embed_b = [_np(w) for w in layer.embed.weights]
    x = np.maximum(steps @ embed_w + embed_b, 0).reshape(2, 5, 4)
    lstm = keras.layers.LSTM(6, return_sequences=True)
    lstm.build((None, 5, 4))
    lstm.set_weights([_np(w) for w in layer.cell.weights])
    head_w, head_b = [_np(w) for w in layer.head.weights]
    expected = _np(lstm(x)) @ head_w + head_b
    np.testing.assert_allclose(params[0], expected[:, :-1], atol=1e-5)


@pytest.mark.parametrize("pooling", ["social", "none"])
def test_the_rollout_is_teacher_forcing_on_its_own_predictions(pooling):
    layer = SocialLSTM(8, 4, pooling, grid_size=2, neighborhood=4.0, seed=0)
    positions, present = _scene(frames=5, peds=3, seed=2)
    present[0, 2, :2] = 0  # the third pedestrian enters at frame 2
    future, gaussians = [_np(t) for t in layer.forecast([positions, present], steps=4)]
    # Feeding observed + rolled-out positions back with teacher forcing gives, at every
    # predicted frame, the Gaussian whose mean the rollout took.
    whole = np.concatenate([positions, future], axis=2)
    params = _np(layer([whole, np.concatenate([present, np.ones((1, 3, 4), "float32")], 2)]))
    means = whole[:, :, 4:8] + params[:, :, 4:8, :2]
    np.testing.assert_allclose(future, means, atol=1e-5)
    np.testing.assert_allclose(gaussians[..., :2], means, atol=1e-5)
    np.testing.assert_allclose(gaussians[..., 2:4], np.exp(params[:, :, 4:8, 2:4]), rtol=1e-5)
    np.testing.assert_allclose(gaussians[..., 4], np.tanh(params[:, :, 4:8, 4]), atol=1e-5)


@pytest.mark.parametrize("pooling", ["social", "none"])
def test_closed_loop_training_scores_the_truth_under_the_rollouts_gaussians(pooling):
    keras.utils.set_random_seed(0)
    teacher = SocialLSTM(8, 4, pooling, grid_size=2, neighborhood=4.0, seed=0)
    positions, present = _scene(frames=7, peds=3, seed=4)
    positions += np.random.default_rng(5).normal(0, 0.2, positions.shape).astype("float32")
    present[0, 2, :2] = 0  # enters at frame 2: observed at frame 3, so it is rolled out
    teacher([positions, present])
    closed = SocialLSTM.from_config({**teacher.get_config(), "teacher_forced_frames": 4})
    closed([positions, present])
    closed.set_weights(teacher.get_weights())
    params = _np(closed([positions, present]))
    future, gaussians = [_np(t) for t in teacher.forecast([positions[:, :, :4], present[:, :, :4]], steps=3)]
    # Observed steps are teacher-forced; from frame 3 on, each Gaussian is the forecast's,
    # re-centred on the true previous position.
    np.testing.assert_allclose(params[:, :, :3], _np(teacher([positions, present]))[:, :, :3], atol=1e-6)
    np.testing.assert_allclose(positions[:, :, 3:6] + params[:, :, 3:6, :2], gaussians[..., :2], atol=1e-5)
    np.testing.assert_allclose(np.exp(params[:, :, 3:6, 2:4]), gaussians[..., 2:4], rtol=1e-5)
    # It differs from teacher forcing once the rollout has left the true track.
    assert np.abs(params[:, :, 4:] - _np(teacher([positions, present]))[:, :, 4:]).max() > 1e-3
    # The loss reaches every weight through the rollout.
    variables = closed.trainable_variables
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = keras.ops.sum(closed([positions, present])[:, :, 5])
        grads = tape.gradient(loss, variables)
        assert all(g is not None and np.abs(_np(g)).max() > 0 for g in grads)


def test_a_closed_loop_model_samples_around_its_mean_forecast():
    """Each sample is the mean forecast plus one draw per pedestrian scaled by every step's
    Cholesky factor: the marginals are the predicted Gaussians, the noise is one per track."""
    layer = SocialLSTM(8, 4, "social", grid_size=2, neighborhood=4.0, seed=3, teacher_forced_frames=4)
    positions, present = _scene(frames=4, peds=2)
    present[0, 1, -1] = 0  # gone at the last observed frame: stays where it was
    reps = 400
    batch = [np.repeat(positions, reps, 0), np.repeat(present, reps, 0)]
    mean, gaussians = [_np(t) for t in layer.forecast(batch, steps=3)]
    drawn, drawn_gaussians = [_np(t) for t in TrajectoryRollout(layer, 3, sample=True)(batch)]
    np.testing.assert_allclose(drawn_gaussians, gaussians, atol=1e-6)
    np.testing.assert_allclose(drawn[:, 1], mean[:, 1], atol=1e-6)
    walker = drawn[:, 0]  # (reps, steps, 2)
    sigma = gaussians[0, 0, :, 2:4]
    np.testing.assert_allclose(walker.mean(0), mean[0, 0], atol=(4 * sigma / np.sqrt(reps)).max())
    np.testing.assert_allclose(walker.std(0), sigma, rtol=0.15)
    z = (walker[..., 0] - mean[0, 0, :, 0]) / sigma[:, 0]  # the same ε₁ at every step
    np.testing.assert_allclose(z, np.repeat(z[:, :1], 3, axis=1), atol=1e-4)


def test_closed_loop_targets_drop_pedestrians_not_in_the_last_observed_frame():
    from kerasseq.tasks.trajectories import training_targets

    positions, present = _scene(frames=6, peds=2)
    present = present.astype(bool)
    present[0, 1, :3] = False  # enters at frame 3, after the 3 observed frames
    teacher = training_targets(positions, present)
    closed = training_targets(positions, present, observed=3)
    np.testing.assert_array_equal(teacher[0, 1, :, 2], [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(closed[0, 1, :, 2], [0, 0, 0, 0, 0])
    np.testing.assert_array_equal(closed[0, 0], teacher[0, 0])


def test_sampled_rollouts_spread_around_the_mean():
    layer = SocialLSTM(8, 4, "none", seed=3)
    positions, present = _scene(frames=4, peds=1)
    reps = 400
    batch = [np.repeat(positions, reps, 0), np.repeat(present, reps, 0)]
    mean, gaussians = [_np(t) for t in layer.forecast(batch, steps=1)]
    drawn = _np(TrajectoryRollout(layer, 1, sample=True)(batch)[0])
    assert np.unique(drawn[:, 0, 0, 0]).size == reps
    sigma = gaussians[0, 0, 0, 2:4]
    np.testing.assert_allclose(drawn[:, 0, 0].mean(0), mean[0, 0, 0], atol=4 * sigma.max() / np.sqrt(reps))
    np.testing.assert_allclose(drawn[:, 0, 0].std(0), sigma, rtol=0.15)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="pooling"):
        SocialLSTM(pooling="max")
    with pytest.raises(ValueError, match="units"):
        SocialLSTM(units=0)
    with pytest.raises(ValueError, match="steps"):
        TrajectoryRollout(SocialLSTM(), steps=0)
    with pytest.raises(ValueError, match="teacher_forced_frames"):
        SocialLSTM(teacher_forced_frames=0)
