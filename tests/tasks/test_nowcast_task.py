"""Nowcasting end to end at tiny scale on real data: Moving MNIST and weather radar train, are
scored per lead time against persistence and optical flow, plot, and export a SavedModel whose
``forecast`` serves frames without kerasseq."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_cli
from kerasseq.errors import UserError
from kerasseq.tasks.configs import NowcastConfig

TINY = {
    "movingmnist": ["--epochs", "2", "--steps_per_epoch", "3", "--batch_size", "4", "--filters",
                    "8,8", "--validation_sequences", "8", "--test_sequences", "12"],
    "radar": ["--epochs", "2", "--steps_per_epoch", "2", "--batch_size", "2", "--filters", "8",
              "--crop", "32", "--validation_sequences", "8", "--test_sequences", "16"],
}


SERVED = "radar"  # the run `mlflow models serve` serves (once is enough)


@pytest.fixture(scope="module", params=sorted(TINY))
def nowcast_run(request, tmp_path_factory, data_dir):
    dataset = request.param
    work = tmp_path_factory.mktemp(f"nowcast_{dataset}")
    # The radar run is tracked in the working folder's own MLflow store and served from there.
    tracking = [] if dataset == SERVED else ["--no_tracking"]
    run_cli(["train", "nowcast", "--dataset", dataset, *TINY[dataset], "--samples", "1", *tracking],
            cwd=work, timeout=900, env={"MLFLOW_TRACKING_URI": ""})
    return work / "runs" / "nowcast", dataset


def test_tiny_run_scores_every_model_per_lead_time_and_plots(nowcast_run):
    run, dataset = nowcast_run
    metrics = json.loads((run / "metrics.json").read_text())
    scores = json.loads((run / "scores.json").read_text())
    lead_times = 10 if dataset == "movingmnist" else 12
    assert set(scores["scores"]) == {"convlstm", "optical flow", "persistence"}
    for name, values in scores["scores"].items():
        assert all(len(v) == lead_times for v in values.values()), name
        key = name.replace(" ", "_")
        if dataset == "movingmnist":
            assert metrics[f"{key}_cross_entropy"] == pytest.approx(sum(values["cross_entropy"]))
            assert metrics[f"{key}_mse_per_frame"] > 0
        else:
            for t in ("0.5", "2", "5", "10"):
                assert {f"csi_{t}", f"pod_{t}", f"far_{t}"} <= set(values)
            assert 0 <= metrics[f"{key}_csi_0.5_30min"] <= 1
        assert -1 <= metrics[f"{key}_ssim"] <= 1
    assert scores["test_sequences"] == metrics["test_sequences"] == (12 if dataset == "movingmnist" else 16)
    persistence = np.array(scores["scores"]["persistence"]["mse"])
    assert persistence[-1] > persistence[0]  # the truth drifts away from the last frame
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert np.isfinite(state["history"]["loss"]).all() and len(state["history"]["val_loss"]) == 2
    for name in ("loss_curve.png", "scores_by_lead.png", "forecast_0.png", "forecast_0.gif"):
        assert (run / "artifacts" / name).stat().st_size > 2000, name


SERVE = r"""
import sys, json
import numpy as np
sys.modules["kerasseq"] = None
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
frames = np.load(sys.argv[2])
print(json.dumps(loaded.forecast(tf.constant(frames)).numpy().tolist()))
"""


def test_saved_model_forecasts_frames_in_data_units(nowcast_run, tmp_path):
    """``forecast`` takes (batch, J, H, W) in data units (radar: mm/h) and returns (batch, K,
    H, W), equal to the exported Keras model."""
    run, dataset = nowcast_run
    import keras

    import kerasseq.layers  # noqa: F401 (registers the custom layers)
    import kerasseq.losses  # noqa: F401 (and the radar model's compiled loss)

    side, J = (64, 10) if dataset == "movingmnist" else (32, 6)
    frames = np.random.default_rng(0).gamma(0.5, 2.0, size=(2, J, side, side)).astype("float32")
    if dataset == "movingmnist":
        frames = np.clip(frames, 0, 1)
    np.save(tmp_path / "frames.npy", frames)
    result = subprocess.run([sys.executable, "-c", SERVE, str(run / "export" / "saved_model"),
                             str(tmp_path / "frames.npy")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    served = np.array(json.loads(result.stdout.strip().splitlines()[-1]), "float32")
    assert served.shape == (2, 10 if dataset == "movingmnist" else 12, side, side)
    assert served.min() >= 0
    model = keras.saving.load_model(run / "export" / "model.keras")
    np.testing.assert_allclose(served, np.asarray(model(frames[..., None]))[..., 0], atol=1e-5)


@pytest.mark.server
def test_registered_nowcaster_serves_frames_over_http(nowcast_run, tmp_path, monkeypatch):
    """`mlflow models serve` of the registered run: frames in data units in, the Keras model's
    forecast out; malformed requests are answered 400 with a message."""
    run, dataset = nowcast_run
    if dataset != SERVED:
        pytest.skip("served once, from the radar run (data units in and out)")
    import keras

    import kerasseq.layers  # noqa: F401 (registers the custom layers)
    import kerasseq.losses  # noqa: F401
    from kerasseq.tracking import register_run_model
    from servers import model_server, post

    tracking_uri = f"sqlite:///{run.parent.parent / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    # What `kerasseq export nowcast --register nowcaster` does after exporting (tested with
    # the character LM), without exporting again.
    version = register_run_model(state["mlflow_run_id"], "nowcaster").version

    frames = np.random.default_rng(1).gamma(0.5, 2.0, size=(2, 6, 32, 32)).astype("float32")
    model = keras.saving.load_model(run / "export" / "model.keras")
    expected = np.asarray(model(frames[..., None]))[..., 0]
    with model_server(f"models:/nowcaster/{version}", tracking_uri, tmp_path / "serve.log") as url:
        status, answer = post(url, {"inputs": frames.tolist()})
        assert status == 200, answer
        served = np.array(answer["predictions"], "float32")
        assert served.shape == (2, 12, 32, 32)
        np.testing.assert_allclose(served, expected, atol=1e-4)
        for body, message in [
            ({"inputs": frames[:, :5].tolist()}, "does not match expected shape"),  # 5 frames, not 6
            ({"inputs": frames[..., None].tolist()}, "does not match expected shape"),
            ({"inputs": [[["rain"]]]}, "could not convert string to float"),
            ({"inputs": []}, "does not match expected shape"),
            (b"", "Invalid input"),
        ]:
            status, answer = post(url, body)
            assert status == 400 and message in answer["message"], (status, str(answer)[:500])


def test_settings_are_checked():
    assert NowcastConfig().frames == (10, 10)
    assert NowcastConfig(dataset="radar").frames == (6, 12)
    assert NowcastConfig(dataset="radar").loss_name == "balanced"
    with pytest.raises(UserError, match="balanced"):
        NowcastConfig(loss="balanced")
    with pytest.raises(UserError, match="filters"):
        NowcastConfig(filters="32,x")
    with pytest.raises(UserError, match="test_events"):
        NowcastConfig(test_events="mch/20150515,mch/20160711,mch/20170131,fmi/20160928,fmi/20170509")
    with pytest.raises(UserError, match="crop"):
        NowcastConfig(crop=30)
    assert NowcastConfig().baseline_list == ("optical_flow", "persistence")
    assert NowcastConfig(baselines="none").baseline_list == ()
    with pytest.raises(UserError, match="--baselines"):
        NowcastConfig(baselines="persistence,rover")
