import math

import keras
import numpy as np

from kerasseq.metrics import BitsPerToken, nats_to_bits


def test_bits_per_token_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 7)).astype("float32")
    labels = rng.integers(0, 7, (3, 5))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.take_along_axis(log_probs, labels[..., None], -1).mean() / math.log(2)
    metric = BitsPerToken()
    metric.update_state(labels, logits)
    np.testing.assert_allclose(float(metric.result()), expected, rtol=1e-5)
    assert math.isclose(nats_to_bits(math.log(2)), 1.0)


def test_bits_per_token_round_trips_in_a_saved_model(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[BitsPerToken(name="bpc")])
    x, y = np.ones((8, 4), "float32"), np.zeros((8,), "int32")
    model.fit(x, y, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert BitsPerToken.from_config(BitsPerToken(name="bpc").get_config()).name == "bpc"
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0, return_dict=True)["bpc"],
                               model.evaluate(x, y, verbose=0, return_dict=True)["bpc"], rtol=1e-5)
