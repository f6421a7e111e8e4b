"""Forecasting end to end at tiny scale on real ETTh1 rows, on TensorFlow and on JAX without
TensorFlow (the JAX suite runs this file too): a grid of runs (a direct model and a
teacher-forced one), scored with the baselines over the test windows, the table, plots,
export; a user's CSV with exogenous columns; the SavedModel's ``forecast`` in raw units,
loaded without kerasseq."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import run_cli
from kerasseq.tasks import get_task
from kerasseq.tasks.configs import ForecastConfig

TINY = dict(dataset="ETTh1", horizon="12", input_length=48, epochs=1, batch_size=32, units=8,
            max_train_windows=96, max_test_windows=40, plots=1)
TENSORFLOW = keras.backend.backend() == "tensorflow"


@pytest.fixture(scope="module")
def grid(tmp_path_factory, data_dir):
    """DLinear and the teacher-forced LSTM decoder as a two-run grid. On TensorFlow through the
    CLI, tracked in its own SQLite store; on JAX in this process, untracked."""
    work = tmp_path_factory.mktemp("forecast")
    if not TENSORFLOW:
        from kerasseq.crossval import cross_validate

        cross_validate(get_task("forecast"), ForecastConfig(model="dlinear,lstm", **TINY),
                       work / "grid", tracking=False, verbose=0)
        return work / "grid"
    args = [a for k, v in TINY.items() for a in (f"--{k}", str(v))]
    run_cli(["train", "forecast", "--model", "dlinear,lstm", "--run_dir", "grid", *args], cwd=work,
            env={"MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}, timeout=900)
    return work / "grid"


def test_grid_scores_every_model_and_baseline_and_writes_the_table(grid):
    table = (grid / "forecast_table.md").read_text()
    assert "### ETTh1 (input length 48" in table and "| 12 |" in table
    assert "dlinear | lstm | last value | seasonal naive" in table
    for name in ("ETTh1_dlinear_12", "ETTh1_lstm_12"):
        metrics = json.loads((grid / name / "metrics.json").read_text())
        scores = json.loads((grid / name / "forecast_scores.json").read_text())
        assert metrics["test_windows"] == 40 and metrics["epochs"] == 1
        for key in ("mse", "last_value_mse", "seasonal_naive_mse", "val_mse", "mse_drop_last"):
            assert 0 < metrics[key] < 5, (name, key)
        # The field's loaders score 32 of the 40 windows (drop_last at batch 32): another mean.
        assert metrics["mse_drop_last"] != pytest.approx(metrics["mse"], rel=1e-6)
        assert set(scores["scores"]) == {name.split("_")[1], "last_value", "seasonal_naive"}
        assert len(scores["scores"]["last_value"]["mse_by_step"]) == 12
        assert np.mean(scores["scores"]["last_value"]["mse_by_step"]) == pytest.approx(
            metrics["last_value_mse"], rel=1e-5)
        for png in ("loss_curve.png", "forecasts.png", "error_by_step.png"):
            assert (grid / name / "artifacts" / png).stat().st_size > 2000, png
    # The recipes were filled in: DLinear's halving schedule, the seed models' cosine.
    state = json.loads((grid / "ETTh1_dlinear_12" / "checkpoint" / "state.json").read_text())
    assert state["config"]["lr_schedule"] == "halving" and state["config"]["learning_rate"] == 5e-3
    # The teacher-forced LSTM stops early on its closed-loop validation error.
    history = json.loads((grid / "ETTh1_lstm_12" / "checkpoint" / "state.json").read_text())["history"]
    assert len(history["val_closed_loop_mse"]) == 1 and 0 < history["val_closed_loop_mse"][0] < 5


def test_dlinear_recipe_follows_the_official_scripts_per_horizon():
    from kerasseq.tasks.forecasting import recipe

    # LTSF-Linear scripts/EXP-LongForecasting/Linear/ettm2.sh, exchange_rate.sh, ettm1.sh.
    assert [recipe("dlinear", "ETTm2", h)["learning_rate"] for h in (96, 192, 336, 720)] == [
        1e-3, 1e-3, 1e-2, 1e-2]
    assert [recipe("dlinear", "exchange", h)["batch_size"] for h in (96, 192, 336, 720)] == [8, 8, 32, 32]
    assert recipe("dlinear", "ETTm1", 96)["batch_size"] == 8
    assert "horizons" not in recipe("dlinear", "ETTm2") and recipe("dlinear", "ETTm2")["learning_rate"] == 1e-3
    task = get_task("forecast")
    resolved = task.resolve_config(ForecastConfig(model="dlinear", dataset="exchange", horizon="720"))
    assert (resolved.learning_rate, resolved.batch_size, resolved.lr_schedule) == (5e-4, 32, "halving")
    resolved = task.resolve_config(ForecastConfig(model="dlinear", dataset="ETTm2", horizon="336",
                                                  learning_rate=3e-3))
    assert (resolved.learning_rate, resolved.batch_size) == (3e-3, 32)  # the settings win


def test_patchtst_recipe_follows_the_official_scripts_per_dataset():
    """scripts/PatchTST/*.sh: type3 on ETTh and weather, OneCycleLR (lradj TST, pct_start 0.4)
    on ETTm1/ETTm2; d_model 16 on ETTh, 128 elsewhere."""
    task = get_task("forecast")
    etth1 = task.resolve_config(ForecastConfig(model="patchtst", dataset="ETTh1"))
    assert (etth1.lr_schedule, etth1.d_model, etth1.batch_size, etth1.learning_rate) == (
        "decay90", 16, 128, 1e-4)
    for dataset in ("ETTm1", "ETTm2"):
        resolved = task.resolve_config(ForecastConfig(model="patchtst", dataset=dataset))
        assert (resolved.lr_schedule, resolved.pct_start, resolved.d_model) == ("one_cycle", 0.4, 128)
    weather = task.resolve_config(ForecastConfig(model="patchtst", dataset="weather"))
    assert (weather.lr_schedule, weather.d_model) == ("decay90", 128)
    mine = task.resolve_config(ForecastConfig(model="patchtst", dataset="ETTm1", pct_start=0.2))
    assert mine.pct_start == 0.2  # the settings win


def test_last_value_baseline_is_what_it_says():
    from kerasseq.tasks.forecasting import baseline_forecasts

    x = np.arange(2 * 30 * 2, dtype=np.float32).reshape(2, 30, 2)
    out = baseline_forecasts(x, 7, 1, season=24)
    np.testing.assert_array_equal(out["last_value"], np.repeat(x[:, -1:, 1:], 7, axis=1))
    np.testing.assert_array_equal(out["seasonal_naive"][:, :, 0], x[:, 6:13, 1])
    assert baseline_forecasts(x, 7, 1, season=52)["seasonal_naive"] is None  # longer than the window


@pytest.mark.skipif(not TENSORFLOW, reason="SavedModel export needs TensorFlow")
def test_saved_model_forecasts_raw_units_without_kerasseq(grid, tmp_path):
    run = grid / "ETTh1_dlinear_12"  # the first run of a grid is exported
    data = json.loads((run / "forecast_data.json").read_text())
    series = np.random.default_rng(0).normal(data["mean"], data["std"], (48, 7)).astype("float32")
    np.save(tmp_path / "series.npy", series)
    script = ("import numpy as np, tensorflow as tf, sys\n"
              f"m = tf.saved_model.load({str(run / 'export' / 'saved_model')!r})\n"
              f"y = m.forecast(tf.constant(np.load({str(tmp_path / 'series.npy')!r}))).numpy()\n"
              "assert 'kerasseq' not in sys.modules\n"
              f"np.save({str(tmp_path / 'y.npy')!r}, y)\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    served = np.load(tmp_path / "y.npy")
    assert served.shape == (12, 7)
    from kerasseq.checkpoint import Checkpoint

    trained = Checkpoint(run).load_model()  # registers kerasseq's layers and schedules
    normalised = (series - np.array(data["mean"])) / np.array(data["std"])
    expected = np.asarray(trained(normalised[None].astype("float32")))[0] * data["std"] + np.array(data["mean"])
    np.testing.assert_allclose(served, expected, rtol=1e-4, atol=1e-4)  # statistics inside
    exported = keras.saving.load_model(run / "export" / "model.keras", compile=False)
    np.testing.assert_allclose(np.asarray(exported(series[None]))[0], served, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(not TENSORFLOW, reason="the CLI runs on the default backend")
def test_user_csv_with_exogenous_columns_and_quantiles(tmp_path, data_dir):
    import pandas as pd

    frame = pd.read_csv(data_dir / "ett" / "ETTh1.csv").iloc[:600]
    frame.rename(columns={"date": "when"}).to_csv(tmp_path / "mine.csv", index=False)
    common = ["--csv", "mine.csv", "--date_column", "when", "--epochs", "1", "--input_length", "24",
              "--horizon", "6", "--plots", "1", "--no_tracking"]
    run_cli(["train", "forecast", "--model", "patchtst", "--target", "OT", "--exogenous", "HUFL,MUFL",
             "--patch_len", "8", "--stride", "4", "--quantiles", "0.1,0.5,0.9", "--run_dir", "csvrun",
             *common], cwd=tmp_path)
    data = json.loads((tmp_path / "csvrun" / "forecast_data.json").read_text())
    assert data["columns"] == ["HUFL", "MUFL", "OT"] and data["targets"] == 1 and data["freq"] == "h"
    assert data["rows"] == [420, 60 + 24, 120 + 24]  # 70 / 10 / 20 %
    assert (tmp_path / "csvrun" / "artifacts" / "patch_attention.png").is_file()
    # Quantile heads: the pinball loss, the coverage of the 10-90 % interval, [H, T, Q] served.
    metrics = json.loads((tmp_path / "csvrun" / "metrics.json").read_text())
    assert 0 <= metrics["coverage_0.1_0.9"] <= 1 and metrics["interval_nominal"] == pytest.approx(0.8)
    assert 0 < metrics["pinball"] < metrics["mae"]
    import tensorflow as tf

    served = tf.saved_model.load(str(tmp_path / "csvrun" / "export" / "saved_model"))
    assert tuple(served.forecast(tf.zeros((24, 3))).shape) == (6, 1, 3)



def test_table_columns_name_the_variants():
    from kerasseq.tasks.forecast_table import model_label

    assert model_label("lstm", {"teacher_forcing": False, "revin": True}) == "lstm (free)+revin"
    assert model_label("tdnn", {"teacher_forcing": False}) == "tdnn"
    assert model_label("narx", {"teacher_forcing": True}) == "narx"
