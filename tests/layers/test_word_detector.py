"""WordDetectionLoss: the multi-hot targets and the added loss against NumPy, identity
output, and the shared layer checks (config, fit, .keras round trip)."""

import keras
import numpy as np
import pytest

from kerasseq.layers import WordDetectionLoss
from testing import run_layer_test

VOCAB, L, D = 9, 4, 6


def _inputs(batch=3, seed=0):
    rng = np.random.default_rng(seed)
    annotations = rng.normal(size=(batch, L, D)).astype("float32")
    captions = np.zeros((batch, 2, 5), "int32")
    captions[0] = [[2, 4, 5, 0, 0], [2, 5, 1, 0, 0]]  # words 4, 5 (1 is unknown: not a word)
    captions[1] = [[2, 8, 8, 8, 0], [2, 3, 0, 0, 0]]  # word 8
    captions[2] = [[2, 6, 7, 4, 5], [2, 0, 0, 0, 0]]  # words 4, 5, 6, 7
    return annotations, captions


def test_targets_are_the_words_of_any_caption():
    layer = WordDetectionLoss(VOCAB)
    _, captions = _inputs()
    expected = np.zeros((3, VOCAB - 4), "float32")
    for i, words in enumerate([(4, 5), (8,), (4, 5, 6, 7)]):
        expected[i, [w - 4 for w in words]] = 1
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.word_targets(captions)), expected)


def test_added_loss_is_the_summed_binary_cross_entropy():
    annotations, captions = _inputs()
    layer = WordDetectionLoss(VOCAB, weight=0.5)
    out = layer([annotations, captions], training=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), annotations)
    assert not layer.losses  # nothing added at inference
    layer([annotations, captions], training=True)
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in layer.head.weights)
    p = 1 / (1 + np.exp(-(annotations.mean(1) @ kernel + bias)))
    y = keras.ops.convert_to_numpy(layer.word_targets(captions))
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(-1).mean()
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(layer.losses[0])), 0.5 * bce, rtol=1e-5)


def test_word_detection_layer_contract(tmp_path):
    run_layer_test(WordDetectionLoss, {"vocab_size": VOCAB, "weight": 0.1}, list(_inputs()),
                   expected_output_shape=(3, L, D), expected_num_trainable_weights=2,
                   tmp_path=tmp_path)


@pytest.mark.parametrize("kwargs", [{"vocab_size": 4}, {"vocab_size": 9, "weight": -1.0}])
def test_bad_arguments_are_named(kwargs):
    with pytest.raises(ValueError, match="vocab_size|weight"):
        WordDetectionLoss(**kwargs)
