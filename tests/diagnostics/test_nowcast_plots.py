"""Nowcast pictures: strips, an animated GIF with every frame, lead-time curves."""

import numpy as np
from PIL import Image

from kerasseq.diagnostics.nowcast_plots import (plot_frame_strips, plot_lead_time_curves,
                                                write_forecast_gif)


def test_pictures_are_written(tmp_path):
    rng = np.random.default_rng(0)
    inputs, truth = rng.random((6, 16, 16)), rng.random((12, 16, 16))
    forecasts = {"convlstm": rng.random((12, 16, 16)), "persistence": np.repeat(inputs[-1:], 12, 0)}
    strip = plot_frame_strips(inputs, truth, forecasts, tmp_path / "strip.png", cmap="viridis",
                              vmax=1.0, minutes_per_frame=5, max_columns=6)
    assert Image.open(strip).size[0] > 300
    gif = write_forecast_gif(inputs, truth, forecasts, tmp_path / "f.gif", scale=2)
    image = Image.open(gif)
    assert image.n_frames == 18  # 6 observed + 12 forecast frames
    assert image.size == (3 * 32 + 2 * 3, 32 + 4)  # truth + 2 models, 3-pixel gaps, a bar
    scores = {"convlstm": {"csi_2": np.linspace(0.6, 0.2, 12), "mse": np.ones(12)},
              "persistence": {"csi_2": np.linspace(0.5, 0.1, 12), "mse": np.ones(12)}}
    curves = plot_lead_time_curves(scores, ["csi_2", "mse", "absent"], tmp_path / "c.png", 5)
    assert curves.stat().st_size > 10_000
