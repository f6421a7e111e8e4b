"""The sequence tagger with and without the word-casing input: shapes, weights, what the
casing feature lets it learn, and a .keras round trip (TensorFlow and JAX)."""

import keras
import numpy as np
import pytest

import kerasseq.layers.crf  # noqa: F401 (registers the CRF for loading)
from kerasseq.models.tagger import build_sequence_tagger

SMALL = dict(word_dim=8, char_dim=4, char_units=4, units=8, max_word_len=5, dropout=0.0)


def _inputs(batch=2, time=6, casing=True, seed=0):
    rng = np.random.default_rng(seed)
    x = {"words": rng.integers(1, 30, (batch, time)).astype("int32"),
         "chars": rng.integers(1, 12, (batch, time, 5)).astype("int32")}
    if casing:
        x["casing"] = rng.integers(1, 8, (batch, time)).astype("int32")
    return x


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("crf", [True, False], ids=["crf", "softmax"])
def test_casing_is_a_third_input_with_its_own_embedding(crf):
    plain = build_sequence_tagger(30, 12, 5, crf=crf, **SMALL)
    cased = build_sequence_tagger(30, 12, 5, crf=crf, casing_dim=4, **SMALL)
    assert set(plain.input) == {"words", "chars"}
    assert set(cased.input) == {"words", "chars", "casing"}
    assert tuple(cased.input["casing"].shape) == (None, None) and cased.input["casing"].dtype == "int32"
    table = cased.get_layer("casing_embedding")
    assert tuple(table.embeddings.shape) == (8, 4) and table.trainable
    assert cased.get_layer("word_and_chars").output.shape[-1] == 8 + 4 + 4
    # The extra weights: the table, and each LSTM direction's input kernel for 4 more features.
    assert cased.count_params() - plain.count_params() == 8 * 4 + 2 * 4 * (4 * 8)
    x = _inputs()
    out = _numpy(cased(x))
    assert out.shape == ((2, 6, 5, 5) if crf else (2, 6, 5))
    recased = {**x, "casing": x["casing"] % 7 + 1}  # every class changed
    assert np.abs(out - _numpy(cased(recased))).max() > 1e-4
    assert tuple(plain(_inputs(casing=False)).shape) == out.shape


def test_casing_lets_the_tagger_learn_what_words_and_characters_hide():
    """Words and characters are the same everywhere; the tag is whether the casing class is odd."""
    rng = np.random.default_rng(0)
    n, time = 64, 6
    casing = rng.integers(1, 8, (n, time)).astype("int32")
    y = casing % 2
    x = {"words": np.full((n, time), 2, "int32"), "chars": np.full((n, time, 5), 3, "int32")}

    def accuracy(model, inputs):
        model.compile(keras.optimizers.Adam(0.02),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(inputs, y, epochs=30, batch_size=16, verbose=0)
        return (_numpy(model.predict(inputs, verbose=0)).argmax(-1) == y).mean()

    keras.utils.set_random_seed(0)
    assert accuracy(build_sequence_tagger(10, 5, 2, crf=False, casing_dim=4, **SMALL),
                    {**x, "casing": casing}) > 0.95
    # Without it the best is the majority tag per position (4 of the 7 classes are odd).
    assert accuracy(build_sequence_tagger(10, 5, 2, crf=False, **SMALL), x) < 0.7


@pytest.mark.parametrize("crf", [True, False], ids=["crf", "softmax"])
def test_keras_round_trip_with_casing(crf, tmp_path):
    model = build_sequence_tagger(30, 12, 5, crf=crf, casing_dim=4, **SMALL)
    path = tmp_path / "tagger.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert set(loaded.input) == {"words", "chars", "casing"}
    x = _inputs()
    np.testing.assert_allclose(_numpy(loaded(x)), _numpy(model(x)), atol=1e-6)


def test_bad_casing_arguments():
    with pytest.raises(ValueError, match="casing_dim=-1"):
        build_sequence_tagger(30, 12, 5, casing_dim=-1)
    with pytest.raises(ValueError, match="num_casing_classes=1"):
        build_sequence_tagger(30, 12, 5, casing_dim=4, num_casing_classes=1)


@pytest.mark.parametrize("crf", [True, False], ids=["crf", "softmax"])
def test_padding_does_not_change_a_sentence(crf):
    """The BiLSTM gets the word mask: a sentence scores the same alone or padded in a batch
    (the backward LSTM must not read the padding)."""
    keras.utils.set_random_seed(0)
    model = build_sequence_tagger(50, 20, 5, word_dim=8, char_dim=4, char_units=4, units=6,
                                  max_word_len=5, depth=2, casing_dim=3, crf=crf)
    rng = np.random.default_rng(0)
    words = np.array([[5, 6, 7]], "int32")
    chars = rng.integers(1, 20, (1, 3, 5)).astype("int32")
    casing = np.array([[4, 6, 2]], "int32")
    alone = model.predict_on_batch({"words": words, "chars": chars, "casing": casing})
    padded = model.predict_on_batch({"words": np.pad(words, ((0, 0), (0, 4))),
                                     "chars": np.pad(chars, ((0, 0), (0, 4), (0, 0))),
                                     "casing": np.pad(casing, ((0, 0), (0, 4)))})
    np.testing.assert_allclose(padded[:, :3], alone, atol=1e-5)


def test_recurrent_dropout_acts_in_training_only_and_round_trips(tmp_path):
    """``recurrent_dropout`` reaches every sentence LSTM (variational: Keras draws one mask
    per sequence); inference is deterministic and a .keras round trip keeps it."""
    keras.utils.set_random_seed(0)
    model = build_sequence_tagger(30, 12, 5, **{**SMALL, "dropout": 0.3}, depth=2,
                                  recurrent_dropout=0.4)
    for i in range(2):
        bilstm = model.get_layer(f"bilstm_{i}")
        assert bilstm.forward_layer.recurrent_dropout == 0.4
        assert bilstm.backward_layer.recurrent_dropout == 0.4
    assert model.get_layer("dropout_1").rate == 0.3  # between the stacked BiLSTMs
    x = _inputs(casing=False)
    inference = _numpy(model(x, training=False))
    np.testing.assert_allclose(_numpy(model(x, training=False)), inference)
    assert np.abs(_numpy(model(x, training=True)) - inference).max() > 1e-4
    path = tmp_path / "tagger.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_layer("bilstm_1").forward_layer.recurrent_dropout == 0.4
    np.testing.assert_allclose(_numpy(loaded(x)), inference, atol=1e-6)
    with pytest.raises(ValueError, match="recurrent_dropout"):
        build_sequence_tagger(30, 12, 5, recurrent_dropout=1.0)
