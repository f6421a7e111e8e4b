"""SmoothedSparseCrossEntropy against Keras' own cross-entropies, padding, serialization and
a compiled fit step."""

import keras
import numpy as np
import pytest

from kerasseq.losses import SmoothedSparseCrossEntropy

V = 6


def _data():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4, V)).astype("float32")
    labels = rng.integers(1, V, (3, 4)).astype("int32")
    labels[0, 2:] = 0
    labels[2, 1:] = 0
    return labels, logits


def test_without_smoothing_is_keras_sparse_cross_entropy():
    labels, logits = _data()
    ours = SmoothedSparseCrossEntropy(0.0, ignore_class=0)(labels, logits)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    np.testing.assert_allclose(float(ours), float(keras_loss(labels, logits)), rtol=1e-5)


@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_smoothing_is_keras_one_hot_label_smoothing_on_valid_tokens(smoothing):
    labels, logits = _data()
    valid = labels != 0
    reference = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)(
        np.eye(V, dtype="float32")[labels[valid]], logits[valid])
    ours = SmoothedSparseCrossEntropy(smoothing, ignore_class=0)(labels, logits)
    np.testing.assert_allclose(float(ours), float(reference), rtol=1e-5)
    # Padding positions contribute nothing: changing their logits changes nothing.
    noisy = np.where(valid[..., None], logits, 100.0).astype("float32")
    np.testing.assert_allclose(float(SmoothedSparseCrossEntropy(smoothing)(labels, noisy)),
                               float(ours), rtol=1e-6)
    # Without ignore_class every position counts (class 0 is then an ordinary class).
    everything = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)(
        np.eye(V, dtype="float32")[labels], logits)
    np.testing.assert_allclose(float(SmoothedSparseCrossEntropy(smoothing, ignore_class=None)(
        labels, logits)), float(everything), rtol=1e-5)


def test_probabilities_input():
    labels, logits = _data()
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    np.testing.assert_allclose(
        float(SmoothedSparseCrossEntropy(0.1, from_logits=False)(labels, probs)),
        float(SmoothedSparseCrossEntropy(0.1)(labels, logits)), rtol=1e-4)


def test_serialization_and_fit(tmp_path):
    loss = SmoothedSparseCrossEntropy(0.2, ignore_class=0)
    rebuilt = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(rebuilt, SmoothedSparseCrossEntropy)
    assert rebuilt.get_config() == loss.get_config()
    with pytest.raises(ValueError, match="label_smoothing"):
        SmoothedSparseCrossEntropy(1.0)

    labels, _ = _data()
    inputs = keras.Input((4,), dtype="int32")
    model = keras.Model(inputs, keras.layers.Dense(V)(keras.layers.Embedding(V, 3)(inputs)))
    model.compile(keras.optimizers.SGD(0.1), loss)
    model.fit(labels, labels, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.loss, SmoothedSparseCrossEntropy)
    assert loaded.loss.label_smoothing == 0.2
