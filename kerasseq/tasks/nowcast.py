"""Precipitation nowcasting with ConvLSTM (Shi et al., NIPS 2015): the encoding-forecasting
network on Moving MNIST and on MeteoSwiss/FMI weather radar, scored per lead time against
persistence and optical-flow extrapolation (pysteps' Lucas–Kanade + semi-Lagrangian advection).

Moving MNIST: endless training sequences from the MNIST training digits, a fixed validation
set from them, and the fixed, seeded test set (``--test_sequences``, 10,000 by default) from the
MNIST test digits; the model outputs pixel probabilities and is scored by the paper's
per-sequence cross-entropy, MSE and MAE per frame (sums over the 64×64 pixels, OpenSTL's
convention) and SSIM.

Radar: rain rates (mm/h) on a 2 km grid; whole events are held out for testing
(``--test_events``); training crops are drawn at random from the other events, the test set is
the fixed grid of wet, covered crops of :func:`kerasseq.data.radar.radar_crops`. The network
sees ``log(1 + R) / log(101)`` and its loss is taken on that scale (by default the balanced
MSE + MAE of Shi et al. 2017, which weights pixels by their rain rate; or plain MSE/MAE); the scores
(MSE, MAE in mm/h; CSI, POD, FAR at 0.5, 2, 5 and 10 mm/h; SSIM on the log scale) are on rain
rates, inside radar coverage only.

The exported SavedModel adds ``forecast(frames)``: ``(batch, J, H, W)`` float32 (rain rate for
radar, [0, 1] intensities for Moving MNIST; H = W = 64, or ``--crop`` for radar: Keras'
ConvLSTM2D needs static frame sizes) to ``(batch, K, H, W)``.
"""

from __future__ import annotations

import json

import keras
import numpy as np

from kerasseq.tasks.base import Task
from kerasseq.tasks.configs import NowcastConfig

SCORES_FILE = "scores.json"
RAIN_MAX = 100.0  # mm/h: LogScaling's top of the scale
MINUTES_PER_FRAME = 5.0
MODELS = ("convlstm", "optical flow", "persistence")


def _log_rain(x):
    return np.log1p(np.maximum(x, 0.0)) / np.log1p(RAIN_MAX)


class _Batches(keras.utils.PyDataset):
    """Endless NumPy batches from a generator, for Keras without TensorFlow (JAX)."""

    def __init__(self, generator, steps: int, transform):
        super().__init__()
        self.generator, self.steps, self.transform = generator, steps, transform

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        return self.transform(*next(self.generator))


class NowcastTask(Task):
    name = "nowcast"
    description = "ConvLSTM encoder-forecaster on Moving MNIST or weather radar"
    config_class = NowcastConfig

    # ------------------------------------------------------------------------- data
    def _radar_events(self, run, test: bool):
        """The held-out (``test``) or training events, read once per run."""
        cache = run.__dict__.setdefault("_radar_events", {})
        if test not in cache:
            from kerasseq.data.radar import RADAR_EVENTS, load_radar_event

            held_out = run.config.test_events.split(",")
            names = [e for e in RADAR_EVENTS if (e in held_out) == test]
            cache[test] = [load_radar_event(e, run.config.data_dir or None, run.config.downsample,
                                            run.config.download) for e in names]
        return cache[test]

    def test_chunks(self, run, split: str = "test", count: int | None = None):
        """The fixed evaluation set as ``(inputs (n, J, H, W), targets (n, K, H, W), mask or
        None)`` chunks, in data units (mm/h for radar)."""
        c = run.config
        J, K = c.frames
        if c.dataset == "movingmnist":
            from kerasseq.data.moving_mnist import moving_mnist_test_chunks

            test = split == "test"  # validation: other sequences of the training digits
            n = count or (c.test_sequences if test else c.validation_sequences)
            for x, y in moving_mnist_test_chunks(n, J, K, seed=0 if test else 1,
                                                 split="test" if test else "train",
                                                 data_dir=c.data_dir or None, download=c.download):
                yield x[..., 0], y[..., 0], None
            return
        crops = self.radar_crops(run, split)
        n = min(count or (c.test_sequences if split == "test" else c.validation_sequences),
                len(crops.inputs))
        for start in range(0, n, 64):
            end = min(start + 64, n)
            yield crops.inputs[start:end], crops.targets[start:end], crops.mask[start:end]

    def radar_crops(self, run, split: str):
        cache = run.__dict__.setdefault("_radar_crops", {})
        if split not in cache:
            from kerasseq.data.radar import radar_crops

            J, K = run.config.frames
            events = self._radar_events(run, test=split == "test")
            # Validation: every 4th window of the training events (an in-sample fit check).
            cache[split] = radar_crops(events, J, K, run.config.crop, stride=1 if split == "test" else 4)
        return cache[split]

    def to_model(self, run, x):
        """Data units ``(..., H, W)`` -> model inputs ``(..., H, W, 1)``."""
        x = np.asarray(x, np.float32)
        return (_log_rain(x) if run.config.dataset == "radar" else x)[..., None].astype(np.float32)

    def from_model(self, run, y):
        y = np.asarray(keras.ops.convert_to_numpy(y), np.float32)[..., 0]
        if run.config.dataset == "radar":
            return np.maximum(np.expm1(y * np.log1p(RAIN_MAX)), 0.0)
        return y

    def datasets(self, run):
        c = run.config
        J, K = c.frames
        seed = [c.seed, run.initial_epoch]  # a resumed run continues with new sequences
        if c.dataset == "movingmnist":
            from kerasseq.data.moving_mnist import moving_mnist_batches as batches

            stream = lambda: batches(c.batch_size, J, K, seed, data_dir=c.data_dir or None,  # noqa: E731
                                     download=c.download)
            shape = (64, 64)
        else:
            from kerasseq.data.radar import radar_training_batches

            events = self._radar_events(run, test=False)
            stream = lambda: radar_training_batches(events, c.batch_size, J, K, c.crop, seed)  # noqa: E731
            shape = (c.crop, c.crop)
        validation = [(self.to_model(run, x), self.to_model(run, y))
                      for x, y, _ in self.test_chunks(run, "validation")]
        vx = np.concatenate([v[0] for v in validation])
        vy = np.concatenate([v[1] for v in validation])

        def transform(x, y):  # NumPy batches in data units -> model units with a channel axis
            return self.to_model(run, x[..., 0] if x.ndim == 5 else x), \
                self.to_model(run, y[..., 0] if y.ndim == 5 else y)

        try:
            import tensorflow as tf
        except ModuleNotFoundError:  # JAX alone: the same streams as a PyDataset
            return (_Batches(stream(), c.steps_per_epoch, transform),
                    _Batches(iter(lambda: (vx[..., 0], vy[..., 0]), None), 1, transform))
        spec = (tf.TensorSpec((c.batch_size, J, *shape, 1), tf.float32),
                tf.TensorSpec((c.batch_size, K, *shape, 1), tf.float32))
        train = tf.data.Dataset.from_generator(lambda: (transform(x, y) for x, y in stream()),
                                               output_signature=spec).prefetch(2)
        val = tf.data.Dataset.from_tensor_slices((vx, vy)).batch(c.batch_size)
        return train, val

    # ------------------------------------------------------------------------ model
    @staticmethod
    def frame_size(run) -> tuple[int, int]:
        side = 64 if run.config.dataset == "movingmnist" else run.config.crop
        return side, side

    def build_model(self, run):
        from kerasseq.models.nowcasting import build_convlstm_forecaster

        c = run.config
        J, K = c.frames
        return build_convlstm_forecaster(  # Keras' ConvLSTM2D needs static frame sizes
            J, K, (*self.frame_size(run), 1), filters=c.filter_list, kernel_size=c.kernel_size,
            patch_size=c.patch_size, recurrent_layer=c.recurrent_layer,
            output_activation="sigmoid" if c.loss_name == "bce" else None,
            name=f"convlstm_{c.dataset}")

    def compile_args(self, run):
        name = run.config.loss_name
        if name == "balanced":
            from kerasseq.losses import BalancedMSEMAE

            return dict(loss=BalancedMSEMAE(max_value=RAIN_MAX))
        losses = {"bce": keras.losses.BinaryCrossentropy(), "mse": keras.losses.MeanSquaredError(),
                  "mae": keras.losses.MeanAbsoluteError()}
        return dict(loss=losses[name])

    def jit_compile(self, run):
        """XLA off on TensorFlow's CPU: its ConvLSTM step measured 70× slower there than the
        graph without XLA (143 s against 2.1 s per batch of 16 at 64-32-32 filters)."""
        return self.jit_off_on_tensorflow_cpu(super().jit_compile(run))

    # ------------------------------------------------------------------- evaluation
    def _scores(self, run):
        from kerasseq.metrics.nowcasting import RADAR_THRESHOLDS, NowcastScores

        K = run.config.frames[1]
        if run.config.dataset == "movingmnist":
            return NowcastScores(K, ssim_range=1.0, cross_entropy=True)
        return NowcastScores(K, RADAR_THRESHOLDS, ssim_range=1.0, ssim_transform=_log_rain)

    def forecasts(self, run, model, inputs) -> dict:
        """Every model's forecast of a chunk ``(n, J, H, W)``: ``{name: (n, K, H, W)}``."""
        from kerasseq.extrapolation import optical_flow_extrapolation, persistence

        K = run.config.frames[1]
        predicted = np.concatenate([self.from_model(run, model(self.to_model(run, inputs[s:s + 32]),
                                                               training=False))
                                    for s in range(0, len(inputs), 32)])
        baselines = run.config.baseline_list
        forecasts = {"convlstm": predicted}
        if "optical_flow" in baselines:
            forecasts["optical flow"] = optical_flow_extrapolation(inputs, K)
        if "persistence" in baselines:
            forecasts["persistence"] = persistence(inputs, K)
        return forecasts

    def evaluate(self, run, model, val_ds):
        """Per-lead scores of the ConvLSTM and both baselines on the fixed test set into
        ``scores.json``; the summary (means over lead times, and radar CSI at 30 and 60 min)
        into the run's metrics."""
        from keras.utils import Progbar

        c = run.config
        scores = {name: self._scores(run) for name in MODELS
                  if name == "convlstm" or name.replace(" ", "_") in c.baseline_list}
        total = c.test_sequences if c.dataset == "movingmnist" else \
            min(c.test_sequences, len(self.radar_crops(run, "test").inputs))
        bar = Progbar(total, unit_name="sequence")
        for inputs, targets, mask in self.test_chunks(run, "test"):
            for name, predicted in self.forecasts(run, model, inputs).items():
                scores[name].update(predicted, targets, mask)
            bar.add(len(inputs))
        results = {name: {k: v.tolist() for k, v in s.result().items()} for name, s in scores.items()}
        (run.dir / SCORES_FILE).write_text(json.dumps(
            {"dataset": c.dataset, "test_sequences": total, "scores": results}, indent=1))
        run.nowcast_scores = results
        metrics = {"test_sequences": total, "parameters": int(model.count_params())}
        for name, values in results.items():
            key = name.replace(" ", "_")
            if c.dataset == "movingmnist":
                pixels = 64 * 64
                metrics[f"{key}_cross_entropy"] = float(np.sum(values["cross_entropy"]))
                metrics[f"{key}_mse_per_frame"] = float(np.mean(values["mse"]) * pixels)
                metrics[f"{key}_mae_per_frame"] = float(np.mean(values["mae"]) * pixels)
            else:
                metrics[f"{key}_mse"] = float(np.mean(values["mse"]))
                metrics[f"{key}_mae"] = float(np.mean(values["mae"]))
                for lead in (6, 12):  # 30 and 60 minutes
                    if lead <= len(values["csi_2"]):
                        for t in ("0.5", "2", "5"):
                            metrics[f"{key}_csi_{t}_{lead * 5}min"] = float(values[f"csi_{t}"][lead - 1])
            metrics[f"{key}_ssim"] = float(np.mean(values["ssim"]))
        return metrics

    def plots(self, run, model, history):
        from kerasseq.diagnostics.nowcast_plots import (plot_frame_strips, plot_lead_time_curves,
                                                         write_forecast_gif)

        c = run.config
        radar = c.dataset == "radar"
        if getattr(run, "nowcast_scores", None) is None:
            path = run.dir / SCORES_FILE
            run.nowcast_scores = json.loads(path.read_text())["scores"] if path.exists() else None
        minutes = MINUTES_PER_FRAME if radar else None
        if run.nowcast_scores:
            metrics = (["csi_0.5", "csi_2", "csi_5", "mse", "ssim"] if radar
                       else ["cross_entropy", "mse", "ssim"])
            labels = {"mse": "MSE per pixel (mm²/h²)" if radar else "MSE per pixel",
                      "cross_entropy": "cross-entropy per frame (nats)"}
            plot_lead_time_curves(run.nowcast_scores, metrics, run.artifacts / "scores_by_lead.png",
                                  minutes, title=f"{c.dataset}: test scores by lead time",
                                  labels=labels)
        if not c.samples:
            return
        inputs, targets, _ = next(self.test_chunks(run, "test", count=max(c.samples, 1)))
        if radar:  # the wettest crops make the clearest pictures
            order = np.argsort(-(inputs[:, -1] >= 2.0).mean(axis=(1, 2)))
            inputs, targets = inputs[order], targets[order]
        inputs, targets = inputs[:c.samples], targets[:c.samples]
        forecasts = self.forecasts(run, model, inputs)
        style = dict(cmap="viridis", vmax=50.0, log=True) if radar else dict(cmap="gray", vmax=1.0)
        for i in range(len(inputs)):
            plot_frame_strips(inputs[i], targets[i], {k: v[i] for k, v in forecasts.items()},
                              run.artifacts / f"forecast_{i}.png", minutes_per_frame=minutes,
                              title=f"{c.dataset} test sequence {i}", **style)
            write_forecast_gif(inputs[i], targets[i], {k: v[i] for k, v in forecasts.items()},
                               run.artifacts / f"forecast_{i}.gif", **style)

    # ----------------------------------------------------------------------- export
    def serving_model(self, run, model):
        """Radar: rain rates in and out (the log scaling inside the model)."""
        if run.config.dataset != "radar":
            return model
        from kerasseq.layers.frames import LogScaling

        J = run.config.frames[0]
        inputs = keras.Input((J, *self.frame_size(run), 1), name="rain_rate")
        x = LogScaling(RAIN_MAX, name="to_log")(inputs)
        outputs = LogScaling(RAIN_MAX, inverse=True, name="to_rain_rate")(model(x))
        return keras.Model(inputs, outputs, name=f"{model.name}_mm_per_h")

    def example_input(self, run):
        J = run.config.frames[0]
        return np.zeros((1, J, *self.frame_size(run), 1), "float32")

    def export_endpoints(self, run, archive, serving_model):
        import tensorflow as tf

        J = run.config.frames[0]

        def forecast(frames):
            return serving_model(frames[..., None], training=False)[..., 0]

        archive.add_endpoint(name="forecast", fn=forecast, input_signature=[
            tf.TensorSpec([None, J, *self.frame_size(run)], tf.float32, name="frames")])

    def pyfunc_endpoint(self, run):
        """Served: ``forecast``, frames ``(n, J, H, W)`` in data units in, ``(n, K, H, W)`` out."""
        return {"endpoint": "forecast", "input": "frames", "dtype": "float32",
                "shape": [-1, run.config.frames[0], *self.frame_size(run)]}


TASK = NowcastTask()
