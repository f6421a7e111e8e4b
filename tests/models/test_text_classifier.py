"""Kim's CNN and the recurrent sentence classifier (TensorFlow and JAX)."""

import keras
import numpy as np
import pytest

from kerasseq.models.text_classifier import build_recurrent_classifier, build_text_cnn


def _toy(n=64, length=12, vocab=30, seed=0):
    """Sentences whose class is whether token 7 occurs, padded with zeros at the end."""
    rng = np.random.default_rng(seed)
    x = rng.integers(8, vocab, (n, length)).astype("int32")
    y = rng.integers(0, 2, n).astype("int32")
    for i in range(n):
        n_words = rng.integers(3, length + 1)
        x[i, n_words:] = 0
        if y[i]:
            x[i, rng.integers(0, n_words)] = 7
    return x, y


def _fits(model, x, y):
    model.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x, y, epochs=40, batch_size=16, verbose=0)
    return model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"]


def test_text_cnn_structure_and_learning():
    model = build_text_cnn(30, 2, seq_len=12, embedding_dim=8, filter_sizes=(3, 4, 5), filters=6)
    assert [l.name for l in model.layers if "conv" in l.name] == ["conv_3", "conv_4", "conv_5"]
    assert model.get_layer("features").output.shape == (None, 18)
    x, y = _toy()
    assert _fits(model, x, y) > 0.9


def test_text_cnn_padding_embeds_to_zero_and_short_inputs_work():
    model = build_text_cnn(30, 2, embedding_dim=4, filter_sizes=(5,), filters=3)
    short = np.array([[9, 10, 0]], "int32")  # shorter than the widest window
    assert model(short).shape == (1, 2)
    padded = np.array([[9, 10, 0, 0, 0, 0]], "int32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(short)),
                               keras.ops.convert_to_numpy(model(padded)), atol=1e-6)


def test_text_cnn_max_norm_caps_output_weights():
    model = build_text_cnn(30, 2, seq_len=12, embedding_dim=4, filters=3, max_norm=0.5)
    model.compile(keras.optimizers.SGD(50.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _toy(16)
    model.fit(x, y, epochs=2, verbose=0)
    norms = np.linalg.norm(keras.ops.convert_to_numpy(model.get_layer("head").kernel), axis=0)
    assert (norms <= 0.5 + 1e-5).all()


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_recurrent_classifier_learns_and_ignores_padding(pooling):
    model = build_recurrent_classifier(30, 2, cell="gru", units=8, embedding_dim=8, pooling=pooling,
                                       dropout=0.0)
    x, y = _toy()
    assert _fits(model, x, y) > 0.9
    extra = np.concatenate([x[:4], np.zeros((4, 5), "int32")], axis=1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(extra)),
                               keras.ops.convert_to_numpy(model(x[:4])), atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="pooling"):
        build_recurrent_classifier(30, 2, pooling="max")
    with pytest.raises(ValueError, match="window sizes"):
        build_text_cnn(30, 2, filter_sizes=(0,))
