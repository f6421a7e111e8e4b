"""VQA models: output shapes of all five, the image placed as words (a NumPy reference of
ImageAsWords, its mask), which input each model uses, attention weights, `.keras` round trips."""

import keras
import numpy as np
import pytest

from kerasseq.layers.vqa import ImageAsWords
from kerasseq.models.vqa import VQA_MODELS, attention_model, build_vqa_model, has_attention
from kerasseq.tasks.vqa_config import VQA_MODELS as CONFIG_MODELS
from testing import run_layer_test

CLASSES, VOCAB = 11, 20
TINY = dict(image_size=32, question_length=7, encoder_filters=(4, 8), encoder_blocks=(1, 1),
            embedding_dim=8, units=8, attention_units=4)


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (3, 32, 32, 3)).astype("uint8")
    question = np.zeros((3, 7), "int32")
    question[0, :3], question[1, :], question[2, :1] = [4, 5, 6], 5, 3
    return {"images": images, "question": question}


def test_config_lists_the_builders_models():
    assert CONFIG_MODELS == VQA_MODELS


@pytest.mark.parametrize("name", VQA_MODELS)
def test_every_model_gives_answer_logits_and_round_trips(name, tmp_path):
    keras.utils.set_random_seed(0)
    model = build_vqa_model(CLASSES, VOCAB, name, **TINY)
    inputs = _inputs()
    out = keras.ops.convert_to_numpy(model(inputs))
    assert out.shape == (3, CLASSES) and np.isfinite(out).all()
    # The baselines ignore what they should; the others use both inputs.
    other_image = {**inputs, "images": _inputs(seed=1)["images"]}
    other_question = {**inputs, "question": np.where(inputs["question"] > 0, 7, 0).astype("int32")}
    image_matters = not np.allclose(keras.ops.convert_to_numpy(model(other_image)), out, atol=1e-6)
    question_matters = not np.allclose(keras.ops.convert_to_numpy(model(other_question)), out, atol=1e-6)
    assert image_matters == (name != "question_only")
    assert question_matters == (name != "image_only")
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(inputs)), out, atol=1e-5)
    assert has_attention(model) == (name == "attention")


def test_importing_kerasseq_layers_is_enough_to_load_a_saved_model(tmp_path):
    import subprocess
    import sys

    build_vqa_model(CLASSES, VOCAB, "2vis_blstm", **TINY).save(tmp_path / "m.keras")
    code = f"import keras, kerasseq.layers; keras.saving.load_model({str(tmp_path / 'm.keras')!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_padding_does_not_change_the_answer():
    keras.utils.set_random_seed(0)
    for name in ("vis_lstm", "2vis_blstm", "attention", "question_only"):
        model = build_vqa_model(CLASSES, VOCAB, name, **{**TINY, "question_length": 7})
        longer = build_vqa_model(CLASSES, VOCAB, name, **{**TINY, "question_length": 10})
        longer.set_weights(model.get_weights())
        inputs = _inputs()
        padded = {**inputs, "question": np.pad(inputs["question"], [(0, 0), (0, 3)])}
        np.testing.assert_allclose(keras.ops.convert_to_numpy(longer(padded)),
                                   keras.ops.convert_to_numpy(model(inputs)), atol=1e-5, err_msg=name)


def test_attention_weights_are_a_distribution_over_the_grid():
    model = build_vqa_model(CLASSES, VOCAB, "attention", **TINY)
    alphas = keras.ops.convert_to_numpy(attention_model(model)(_inputs()))
    assert alphas.shape == (3, 16)  # the 4 × 4 grid of a 2-stage ResNet on 32 pixels
    np.testing.assert_allclose(alphas.sum(-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="model='attention'"):
        attention_model(build_vqa_model(CLASSES, VOCAB, "vis_lstm", **TINY))


def test_unknown_model_is_an_error():
    with pytest.raises(ValueError, match="Expected model in"):
        build_vqa_model(CLASSES, VOCAB, "mcb", **TINY)


@pytest.mark.parametrize("both_ends", [False, True])
def test_image_as_words_matches_numpy(both_ends, tmp_path):
    rng = np.random.default_rng(0)
    image = rng.normal(size=(2, 5)).astype("float32")
    words = rng.normal(size=(2, 4, 3)).astype("float32")
    tokens = np.array([[5, 6, 0, 0], [1, 2, 3, 4]], "int32")
    out = run_layer_test(ImageAsWords, dict(embedding_dim=3, both_ends=both_ends),
                         [image, words, tokens], expected_output_shape=(2, 6 if both_ends else 5, 3),
                         expected_num_trainable_weights=4 if both_ends else 2, run_fit=False,
                         tmp_path=tmp_path, atol=1e-6)
    layer = ImageAsWords(3, both_ends=both_ends)
    got = keras.ops.convert_to_numpy(layer([image, words, tokens]))
    first = image @ keras.ops.convert_to_numpy(layer.first.kernel) + keras.ops.convert_to_numpy(layer.first.bias)
    expected = np.concatenate([first[:, None], words * (tokens != 0)[..., None]] + ([np.zeros((2, 1, 3), "float32")] if both_ends else []), 1)
    if both_ends:
        last = image @ keras.ops.convert_to_numpy(layer.last.kernel) + keras.ops.convert_to_numpy(layer.last.bias)
        expected[0, 3] += last[0]  # after the 2 words of question 0
        expected[1, 5] += last[1]  # after the 4 words of question 1
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert out.shape == expected.shape
    mask = keras.ops.convert_to_numpy(layer.compute_mask([image, words, tokens]))
    valid = [4, 6] if both_ends else [3, 5]  # image word(s) + the question's words
    np.testing.assert_array_equal(mask.sum(1), valid)
    with pytest.raises(ValueError, match="positive integer"):
        ImageAsWords(0)
