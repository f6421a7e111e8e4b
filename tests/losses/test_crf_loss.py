"""CRFNegativeLogLikelihood: value, padding, no Keras masking, and compiled save/load/resume.

(Not ``test_crf.py``: without ``__init__.py`` files pytest needs unique test module names, and
``tests/layers/test_crf.py`` exists.)"""

import keras
import numpy as np

from kerasseq.layers import CRF, crf_log_likelihood
from kerasseq.losses import CRFNegativeLogLikelihood


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _model():
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(tokens)
    potentials = CRF(3, transitions_initializer="glorot_uniform")(keras.layers.Dense(3)(x))
    return keras.Model(tokens, potentials)


X = np.array([[1, 2, 3], [4, 5, 0], [6, 0, 0]], "int32")
Y = np.array([[0, 1, 2], [2, 1, -1], [1, -1, -1]], "int32")


def test_loss_is_the_mean_negative_log_likelihood_and_ignores_empty_rows():
    rng = np.random.default_rng(0)
    potentials = rng.normal(size=(3, 4, 3, 3)).astype("float32")
    tags = np.array([[0, 2, 1, 1], [1, 0, -1, -1], [-1, -1, -1, -1]], "int32")
    loss = _numpy(CRFNegativeLogLikelihood()(tags, potentials))
    ll = _numpy(crf_log_likelihood(potentials[:2], np.maximum(tags[:2], 0), tags[:2] >= 0))
    np.testing.assert_allclose(loss, -ll.sum() / 3, rtol=1e-5)  # the empty row adds 0
    summed = _numpy(CRFNegativeLogLikelihood(reduction="sum")(tags, potentials))
    np.testing.assert_allclose(summed, -ll.sum(), rtol=1e-5)
    assert np.isfinite(_numpy(CRFNegativeLogLikelihood(reduction=None)(tags, potentials))).all()


def test_keras_applies_no_mask_to_the_loss():
    """The model's reported loss is the plain mean of the per-sequence NLLs: the CRF passes on
    no mask, so Keras' `Loss.__call__` does not reweight them by a (batch, time) mask."""
    model = _model()
    model.compile("adam", loss=CRFNegativeLogLikelihood())
    potentials = model(X)
    assert getattr(potentials, "_keras_mask", None) is None
    expected = -_numpy(crf_log_likelihood(potentials, np.maximum(Y, 0), Y >= 0)).mean()
    np.testing.assert_allclose(model.evaluate(X, Y, verbose=0), expected, rtol=1e-5)


def test_config_round_trip():
    loss = CRFNegativeLogLikelihood(name="nll", reduction="sum")
    config = loss.get_config()
    assert config == {"name": "nll", "reduction": "sum", "dtype": "float32"}
    assert CRFNegativeLogLikelihood.from_config(config).get_config() == config
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, CRFNegativeLogLikelihood) and restored.get_config() == config


def test_compiled_model_saves_loads_and_trains_on(tmp_path):
    model = _model()
    model.compile("adam", loss=CRFNegativeLogLikelihood(reduction="sum"))
    model.fit(X, Y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=True)
    assert isinstance(loaded.loss, CRFNegativeLogLikelihood) and loaded.loss.reduction == "sum"
    before = loaded.evaluate(X, Y, verbose=0)
    np.testing.assert_allclose(before, model.evaluate(X, Y, verbose=0), rtol=1e-5)
    # Training resumes with the restored optimizer state, and the loss keeps going down.
    assert int(loaded.optimizer.iterations) == 1
    loaded.fit(X, Y, epochs=1, verbose=0)
    assert int(loaded.optimizer.iterations) == 2
    assert loaded.evaluate(X, Y, verbose=0) < before
