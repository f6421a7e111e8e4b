"""Graves' handwriting prediction network: its weight count (the paper's 3.4 M), skip
connections, and the compiled sampler against the network run on its own samples."""

import keras
import numpy as np
import pytest

from kerasseq.losses import sample_mixture_density
from kerasseq.models import build_handwriting_predictor, draw_noise, handwriting_sampler


def _compiled(fn):
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn)


def _weights(units, layers=3, m=20):
    """Graves' network: LSTM n reads the points and layer n − 1; the head reads every layer."""
    lstm = lambda inputs: 4 * units * (inputs + units + 1)  # noqa: E731
    return lstm(3) + (layers - 1) * lstm(3 + units) + (layers * units + 1) * (6 * m + 1)


def test_the_papers_network_has_its_weight_count():
    assert _weights(400) == 3_364_521  # Graves gives 3.4 M weights for it (section 4.2)
    # The paper's size on TensorFlow; JAX on a CPU takes ~15 s for its orthogonal initialisers.
    units = 400 if keras.backend.backend() == "tensorflow" else 40
    model = build_handwriting_predictor(units=units)
    assert model.count_params() == _weights(units)
    assert model.output_shape == (None, None, 121)
    plain = build_handwriting_predictor(2, 8, 2, skip_connections=False)
    assert plain.count_params() == 4 * 8 * 12 + 4 * 8 * 17 + 9 * 13
    with pytest.raises(ValueError, match="num_layers"):
        build_handwriting_predictor(num_layers=0)


@pytest.mark.parametrize("skip", [True, False])
def test_sampler_is_the_network_run_on_its_own_samples(skip):
    keras.utils.set_random_seed(0)
    model = build_handwriting_predictor(3, 8, 4, skip_connections=skip)
    noise = draw_noise(2, 12, seed=5)
    points = keras.ops.convert_to_numpy(_compiled(handwriting_sampler(model))(noise, np.float32(0.3)))
    assert points.shape == (2, 12, 3)
    # Teacher forcing on the sampled line predicts the mixtures the sampler drew from.
    inputs = np.concatenate([np.zeros((2, 1, 3), "float32"), points[:, :-1]], axis=1)
    redrawn = keras.ops.convert_to_numpy(sample_mixture_density(model(inputs), 0.3, noise=noise))
    np.testing.assert_allclose(redrawn, points, atol=1e-4)


def test_saved_model_round_trip(tmp_path):
    model = build_handwriting_predictor(2, 4, 2)
    x = np.random.default_rng(0).normal(size=(1, 5, 3)).astype("float32")
    model.save(tmp_path / "hw.keras")
    loaded = keras.saving.load_model(tmp_path / "hw.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)),
                               keras.ops.convert_to_numpy(model(x)), atol=1e-6)


def test_graves_derivative_clipping_changes_the_backward_pass_only(tmp_path):
    """With ``lstm_derivative_clip`` and ``output_derivative_clip`` the network has the same
    weights, outputs and samples, and saves and loads with its clipped cells."""
    from kerasseq.layers import DerivativeClippedLSTMCell

    keras.utils.set_random_seed(0)
    plain = build_handwriting_predictor(2, 6, 2)
    clipped = build_handwriting_predictor(2, 6, 2, lstm_derivative_clip=10.0, output_derivative_clip=100.0)
    assert clipped.count_params() == plain.count_params()
    clipped.set_weights(plain.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 7, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clipped(x)),
                               keras.ops.convert_to_numpy(plain(x)), atol=1e-6)
    noise = draw_noise(2, 6, seed=1)
    drawn = [keras.ops.convert_to_numpy(_compiled(handwriting_sampler(m))(noise, np.float32(0.5)))
             for m in (plain, clipped)]
    np.testing.assert_allclose(drawn[1], drawn[0], atol=1e-5)
    clipped.save(tmp_path / "clipped.keras")
    loaded = keras.saving.load_model(tmp_path / "clipped.keras")
    assert isinstance(loaded.get_layer("lstm_2").cell, DerivativeClippedLSTMCell)
    assert loaded.get_layer("output_derivative_clip").limit == 100.0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)),
                               keras.ops.convert_to_numpy(plain(x)), atol=1e-6)
