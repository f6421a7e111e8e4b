"""The CRF against brute-force enumeration of every tag path, compiled with an unknown time
length, and trained inside a model (TensorFlow and JAX)."""

import itertools

import keras
import numpy as np
import pytest

from kerasseq.layers import CRF, crf_log_likelihood, crf_log_partition, crf_path_score, viterbi_decode
from kerasseq.losses import CRFNegativeLogLikelihood
from testing import run_layer_test

N, T = 3, 4
LENGTHS = [4, 2, 1]
MASK = np.array([[t < n for t in range(T)] for n in LENGTHS])


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _layer_and_potentials():
    rng = np.random.default_rng(0)
    layer = CRF(N, transitions_initializer=keras.initializers.RandomNormal(seed=1))
    scores = rng.normal(size=(len(LENGTHS), T, N)).astype("float32")
    potentials = _numpy(layer(scores, mask=keras.ops.convert_to_tensor(MASK)))
    weights = {w.name: _numpy(w) for w in layer.weights}
    return scores, potentials, weights


def _numpy_score(path, scores, w):
    """s(y) = start[y_0] + Σ_t u_t[y_t] + Σ_t A[y_{t−1}, y_t] + end[y_{n−1}]."""
    s = w["start_transitions"][path[0]] + w["end_transitions"][path[-1]]
    s += sum(scores[t, y] for t, y in enumerate(path))
    s += sum(w["transitions"][a, b] for a, b in zip(path[:-1], path[1:]))
    return s


def _compiled(fn):
    """``fn`` compiled for inputs whose batch and time lengths are unknown when it is traced."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn, jit_compile=True, input_signature=[
        tf.TensorSpec([None, None, N, N], tf.float32), tf.TensorSpec([None, None], tf.bool)])


def _log_partition_gradient(potentials, mask):
    """d(Σ_b log Z_b)/dψ by the backend's autodiff (through the custom gradient)."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.grad(lambda p, m: crf_log_partition(p, m).sum())(potentials, mask)
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(potentials)
        log_z = tf.reduce_sum(crf_log_partition(potentials, mask))
    return tape.gradient(log_z, potentials)


def test_layer_potentials_match_numpy():
    scores, potentials, w = _layer_and_potentials()
    for b, n in enumerate(LENGTHS):
        expected = w["transitions"][None] + scores[b][:, None, :]  # (time, from, to)
        expected[0] = (w["start_transitions"] + scores[b, 0])[None, :]
        expected[n - 1] += w["end_transitions"][None, :]
        np.testing.assert_allclose(potentials[b, :n], expected[:n], rtol=1e-6, atol=1e-6)


def test_matches_brute_force_enumeration():
    scores, potentials, w = _layer_and_potentials()
    log_z = _numpy(crf_log_partition(potentials, MASK))
    best, best_score = viterbi_decode(potentials, MASK, return_score=True)
    best, best_score = _numpy(best), _numpy(best_score)
    assert best.dtype == np.int32 and best.shape == (len(LENGTHS), T)
    # Every path of every sequence, one row each (tag 2 on padded steps, which must not count).
    rows, tags, expected = [], [], []
    for b, n in enumerate(LENGTHS):
        paths = list(itertools.product(range(N), repeat=n))
        all_scores = np.array([_numpy_score(p, scores[b], w) for p in paths])
        np.testing.assert_allclose(log_z[b], np.log(np.exp(all_scores).sum()), rtol=1e-5)
        assert tuple(best[b, :n]) == paths[int(all_scores.argmax())]
        assert (best[b, n:] == 0).all()
        np.testing.assert_allclose(best_score[b], all_scores.max(), rtol=1e-5)
        rows += [b] * len(paths)
        tags += [list(p) + [2] * (T - n) for p in paths]
        expected.append(all_scores)
    rows, tags = np.array(rows), np.array(tags, "int32")
    np.testing.assert_allclose(_numpy(crf_path_score(potentials[rows], tags, MASK[rows])),
                               np.concatenate(expected), rtol=1e-5, atol=1e-5)
    # The likelihoods of all paths of a sequence sum to one.
    likelihoods = np.exp(_numpy(crf_log_likelihood(potentials[rows], tags, MASK[rows])))
    np.testing.assert_allclose(np.bincount(rows, likelihoods), np.ones(len(LENGTHS)), rtol=1e-5)


def test_log_partition_gradient_is_the_pairwise_marginals():
    """∂log Z/∂ψ_t[i, j] = p(y_{t−1} = i, y_t = j), zero on padded steps (brute force)."""
    _, potentials, _ = _layer_and_potentials()
    grad = _numpy(_log_partition_gradient(keras.ops.convert_to_tensor(potentials),
                                          keras.ops.convert_to_tensor(MASK)))
    for b, n in enumerate(LENGTHS):
        expected = np.zeros((T, N, N))
        paths = list(itertools.product(range(N), repeat=n))
        scores = np.array([sum(potentials[b, t, p[t - 1] if t else 0, p[t]] for t in range(n))
                           for p in paths])
        probabilities = np.exp(scores - np.log(np.exp(scores).sum()))
        for p, prob in zip(paths, probabilities):
            for t in range(n):
                expected[t, p[t - 1] if t else 0, p[t]] += prob  # y_{−1} = 0: row 0 at t = 0
        np.testing.assert_allclose(grad[b], expected, atol=1e-5)


def test_compiled_with_unknown_time_length_and_single_steps():
    """Jitted (XLA on TensorFlow) with time unknown at trace time, down to one-step inputs."""
    _, potentials, _ = _layer_and_potentials()
    decode = _compiled(lambda p, m: viterbi_decode(p, m, return_score=True))
    log_partition = _compiled(crf_log_partition)
    for time in (T, 1):
        p, m = potentials[:, :time], MASK[:, :time]
        tags, score = decode(p, m)
        eager_tags, eager_score = viterbi_decode(p, m, return_score=True)
        np.testing.assert_array_equal(_numpy(tags), _numpy(eager_tags))
        np.testing.assert_allclose(_numpy(score), _numpy(eager_score), rtol=1e-6)
        np.testing.assert_allclose(_numpy(log_partition(p, m)), _numpy(crf_log_partition(p, m)),
                                   rtol=1e-6)
    # One step, no mask: log Z and the best tag come from ψ_0 (row 0) alone.
    one = potentials[:, :1]
    np.testing.assert_array_equal(_numpy(viterbi_decode(one))[:, 0], one[:, 0, 0].argmax(-1))
    np.testing.assert_allclose(_numpy(crf_log_partition(one)),
                               np.log(np.exp(one[:, 0, 0]).sum(-1)), rtol=1e-5)


def test_no_mask_means_every_step_is_valid():
    _, potentials, _ = _layer_and_potentials()
    full = np.ones(MASK.shape, bool)
    np.testing.assert_allclose(_numpy(crf_log_partition(potentials)),
                               _numpy(crf_log_partition(potentials, full)), rtol=1e-6)
    np.testing.assert_array_equal(_numpy(viterbi_decode(potentials)),
                                  _numpy(viterbi_decode(potentials, full)))


def test_crf_layer(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    run_layer_test(CRF, {"num_tags": 4, "transitions_initializer": "glorot_uniform"}, x,
                   expected_output_shape=(2, 5, 4, 4), expected_num_trainable_weights=3,
                   tmp_path=tmp_path)


def _tagging_model(num_tags=3, bilstm=True):
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(12, 8, mask_zero=True)(tokens)
    if bilstm:
        x = keras.layers.Bidirectional(keras.layers.LSTM(8, return_sequences=True))(x)
    potentials = CRF(num_tags, name="crf")(keras.layers.Dense(num_tags)(x))
    return keras.Model(tokens, potentials)


def _alternating_task(n=48, seed=0):
    """Tags 1 and 2 alternate after a start token that gives the first tag away; every later
    token is the same id 3, so without an LSTM only the transitions tell its tag."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 7), "int32")
    y = np.full((n, 7), -1, "int32")
    for i in range(n):
        length = rng.integers(2, 8)
        start = rng.integers(1, 3)  # 1 or 2
        x[i, :length] = 3
        x[i, 0] = 4 if start == 1 else 5
        y[i, :length] = [start if t % 2 == 0 else 3 - start for t in range(length)]
    return x, y


@pytest.mark.parametrize("jit_compile", [True, pytest.param(False, marks=pytest.mark.skipif(
    keras.backend.backend() == "jax", reason="eager JAX dispatches the scans op by op (~30 s); "
    "the eager custom gradient is covered by the marginals test"))])
def test_model_learns_transitions_and_viterbi_recovers_tags(jit_compile):
    """Embedding -> Dense -> CRF: token 3's unary scores are the same for every position, so
    recovering the alternating tags needs the learned transitions."""
    x, y = _alternating_task()
    model = _tagging_model(bilstm=False)
    crf = model.get_layer("crf")
    model.compile(keras.optimizers.Adam(0.1), loss=CRFNegativeLogLikelihood(), jit_compile=jit_compile)
    before = [_numpy(w) for w in model.trainable_weights]
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < 0.1 * history[0], history
    # Gradients reach every weight: the CRF's and, through the unary scores, Dense's and
    # the embedding's.
    assert all(not np.allclose(a, _numpy(b)) for a, b in zip(before, model.trainable_weights))
    tags = _numpy(viterbi_decode(model.predict(x, verbose=0), x != 0))
    assert (tags[y >= 0] == y[y >= 0]).all()
    assert (tags[y < 0] == 0).all()
    transitions = _numpy(crf.transitions)
    assert transitions[1, 2] > transitions[1, 1] + 2 and transitions[2, 1] > transitions[2, 2] + 2


def test_mask_reaches_the_crf_through_bilstm_and_dense():
    model = _tagging_model()
    crf = model.get_layer("crf")
    crf.end_transitions.assign([1.0, -2.0, 3.0])  # end scores must land on the last *valid* step
    x = np.array([[4, 3, 3, 0, 0]], "int32")
    padded = _numpy(model(x))
    short = _numpy(model(x[:, :3]))
    np.testing.assert_allclose(padded[:, :3], short, atol=1e-5)


def test_docstring_example():
    num_tags = 5
    token_ids = np.array([[5, 8, 2, 0], [7, 1, 0, 0]], "int32")
    tag_ids = np.array([[1, 0, 4, -1], [2, 3, -1, -1]], "int32")

    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(1000, 32, mask_zero=True)(tokens)
    x = keras.layers.Bidirectional(keras.layers.LSTM(32, return_sequences=True))(x)
    potentials = CRF(num_tags)(keras.layers.Dense(num_tags)(x))
    model = keras.Model(tokens, potentials)
    model.compile("adam", loss=CRFNegativeLogLikelihood())
    model.fit(token_ids, tag_ids, epochs=1, verbose=0)
    tags = viterbi_decode(model(token_ids), mask=token_ids != 0)
    assert tuple(tags.shape) == (2, 4)
    assert (_numpy(tags)[token_ids == 0] == 0).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="Expected num_tags to be an int >= 1. Received: num_tags=0"):
        CRF(0)
    with pytest.raises(ValueError, match="Expected inputs with 4 tag scores"):
        CRF(4)(np.zeros((1, 2, 3), "float32"))
