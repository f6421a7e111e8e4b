"""Nowcasting on the JAX backend without TensorFlow (how it trains on the GPU machine): the
Moving MNIST stream as a PyDataset, kerasseq's ConvLSTM, a chosen subset of baselines, and a
training time limit."""

import json

import keras
import pytest

from kerasseq.tasks import get_task
from kerasseq.tasks.configs import NowcastConfig
from kerasseq.training import train

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax",
                                reason="the TensorFlow path is covered by test_nowcast_task.py")


def test_moving_mnist_trains_and_scores_without_tensorflow(tmp_path, data_dir):
    config = NowcastConfig(epochs=3, steps_per_epoch=2, batch_size=2, filters="4,4",
                           validation_sequences=4, test_sequences=6, samples=1,
                           recurrent_layer="kerasseq", baselines="persistence", max_minutes=1e-6)
    metrics = train(get_task("nowcast"), config, tmp_path / "run", tracking=False, verbose=0)
    assert metrics["epochs"] == 1  # the time limit stopped it after its first epoch
    scores = json.loads((tmp_path / "run" / "scores.json").read_text())["scores"]
    assert sorted(scores) == ["convlstm", "persistence"]  # optical flow was not asked for
    assert len(scores["convlstm"]["cross_entropy"]) == 10
    assert (tmp_path / "run" / "artifacts" / "forecast_0.gif").exists()
    assert (tmp_path / "run" / "export" / "model.keras").exists()
