import keras
import numpy as np
import pytest

from kerasseq.models import build_char_language_model, generate, sample_next


def test_top_k_one_is_greedy():
    logits = np.array([[0.1, 3.0, -1.0, 2.9], [5.0, 0.0, 0.0, 4.0]], "float32")
    for seed in range(5):
        ids = keras.ops.convert_to_numpy(sample_next(logits, temperature=2.0, top_k=1, seed=seed))
        np.testing.assert_array_equal(ids, [1, 0])


def test_top_k_never_draws_outside_the_k_best():
    logits = np.zeros((1, 10), "float32") + np.arange(10, dtype="float32") * 0.01
    draws = {int(keras.ops.convert_to_numpy(sample_next(logits, 1.0, top_k=3, seed=s))[0]) for s in range(60)}
    assert draws <= {7, 8, 9} and len(draws) > 1


def test_low_temperature_sharpens():
    logits = np.log(np.array([[0.6, 0.4]], "float32"))
    hot = [int(keras.ops.convert_to_numpy(sample_next(logits, 0.05, seed=s))[0]) for s in range(40)]
    assert sum(hot) <= 1  # at T=0.05 the 0.4 option has probability ~3e-4


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_generate_is_reproducible_and_sized(cell):
    step = build_char_language_model(9, cell=cell, units=8, depth=2, return_state=True)
    kwargs = dict(temperature=1.0, seed=3)
    a = generate(step, [1, 2, 3], 8, **kwargs)
    b = generate(step, [1, 2, 3], 8, **kwargs)
    assert a.shape == (8,) and a.min() >= 0 and a.max() < 9
    np.testing.assert_array_equal(a, b)


def test_generate_rejects_bad_arguments():
    step = build_char_language_model(9, units=8, depth=1, return_state=True)
    with pytest.raises(ValueError, match="temperature > 0"):
        generate(step, [1], 5, temperature=0.0)
    with pytest.raises(ValueError, match="at least one character"):
        generate(step, [], 5)
