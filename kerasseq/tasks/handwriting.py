"""Handwriting prediction on IAM-OnDB (Graves 2013, "Generating sequences with recurrent
neural networks", section 4).

Protocol: train on ``--train_splits`` (default train + val2), watch val1 after each epoch, and
report the test set's negative log-likelihood in nats per line (Graves' ``L(x)``, eq. 26
summed over each line's predicted points, offsets in units of the training set's standard
deviation), over whole test lines. The network is Graves' (stacked LSTMs, skip connections,
a 20-component mixture density output: :func:`kerasseq.models.build_handwriting_predictor`).

Artifacts: ``samples.png``, unconditional samples at the ``--sample_biases`` drawn with their
pen lifts (a compiled sampler: ``jax.jit`` or ``tf.function`` around one ``fori_loop``), and
``density_heatmap.png``, the density the model predicts for every next pen position along a
real test line (Graves' Figure 10). The exported SavedModel's ``serve`` maps normalised points
``(batch, time, 3)`` to raw mixture outputs; ``sample(count, steps, bias, seed)`` writes
``count`` lines of ``steps`` points ``(dx, dy, end_of_stroke)`` in raw tablet units.
"""

from __future__ import annotations

import json

import keras
import numpy as np

from kerasseq.data.handwriting import (limit_length, line_dataset, load_iam_ondb, normalise,
                                       offset_scale, split_lines)
from kerasseq.errors import UserError
from kerasseq.tasks.base import Task
from kerasseq.tasks.handwriting_config import HandwritingConfig

SCALE_FILE = "handwriting_scale.json"
SAMPLES_FILE = "samples.png"
HEATMAP_FILE = "density_heatmap.png"
HEATMAP_POINTS = 500  # the heat map's line is cut to this many points (a readable figure)


class HandwritingTask(Task):
    name = "handwriting"
    description = "handwriting prediction on IAM-OnDB (Graves 2013)"
    config_class = HandwritingConfig

    # ------------------------------------------------------------------------- data
    def lines(self, run):
        """All IAM-OnDB lines (read once per run)."""
        if getattr(run, "_lines", None) is None:
            run._lines = load_iam_ondb(run.config.data_dir or None)
        return run._lines

    def prepare(self, run):
        """The offsets' scale ``(sx, sy)`` over the training lines, saved in the run folder
        (``handwriting_scale.json``) so sampling and export work without the data."""
        path = run.dir / SCALE_FILE
        if path.exists():
            run.scale = np.asarray(json.loads(path.read_text())["scale"])
            return
        train = split_lines(self.lines(run), run.config.split_list)
        run.scale = offset_scale(train)
        path.write_text(json.dumps({"scale": run.scale.tolist(), "train_splits": run.config.train_splits,
                                    "train_lines": len(train)}))

    def split(self, run, names, limit: int = 0, whole: bool = False):
        """The lines of ``names``, the first ``limit`` (0: all), after ``--max_points`` unless
        ``whole``; and the length report of :func:`kerasseq.data.handwriting.limit_length`."""
        c = run.config
        lines = split_lines(self.lines(run), names)
        if limit:
            lines = lines.subset(np.arange(min(limit, len(lines))))
        return limit_length(lines, 0 if whole else c.max_points, c.length_policy)

    def datasets(self, run):
        """``(train, val1)`` batches of padded lines, grouped by length; longer lines than
        ``--max_points`` truncated or skipped, and counted (``run.length_reports``)."""
        c = run.config
        train, train_report = self.split(run, c.split_list)
        val, val_report = self.split(run, ("val1",), c.val_lines)
        run.length_reports = {"train": train_report, "val1": val_report}
        for name, report in run.length_reports.items():
            if report["long_lines"]:
                verb = "truncated to" if c.length_policy == "truncate" else "skipped, longer than"
                print(f"{name}: {report['long_lines']} of {report['lines']} lines {verb} "
                      f"--max_points {c.max_points} ({report['points_dropped']} points dropped)")
        train_ds = line_dataset(train, run.scale, c.batch_size, train=True,
                                bucket_width=c.bucket_width, seed=c.seed, first_epoch=run.initial_epoch)
        return (train_ds,
                line_dataset(val, run.scale, c.batch_size, train=False, bucket_width=c.bucket_width))

    # ------------------------------------------------------------------------ model
    def build_model(self, run):
        from kerasseq.models.handwriting import build_handwriting_predictor

        c = run.config
        return build_handwriting_predictor(c.num_layers, c.units, c.num_components,
                                           c.skip_connections)

    def compile_args(self, run):
        from kerasseq.losses import MixtureDensityNLL
        from kerasseq.metrics import MixtureDensityNatsPerSequence

        return dict(loss=MixtureDensityNLL(), metrics=[MixtureDensityNatsPerSequence()])

    def jit_compile(self, run):
        """XLA off on TensorFlow's CPU (as for the other recurrent tasks there)."""
        return self.jit_off_on_tensorflow_cpu(super().jit_compile(run))

    # ------------------------------------------------------------------- evaluation
    def evaluate(self, run, model, val_ds):
        """Test NLL in nats per line over whole test lines (Graves' figure), per point, and
        the training lines ``--max_points`` cut or skipped."""
        c = run.config
        test, _ = self.split(run, ("test",), c.test_lines, whole=True)
        test_ds = line_dataset(test, run.scale, c.batch_size, train=False, bucket_width=c.bucket_width)
        values = model.evaluate(test_ds, verbose=0, return_dict=True)
        points = int((test.lengths - 1).sum())
        metrics = {"test_nats_per_line": float(values["nats_per_sequence"]),
                   "test_nats_per_point": float(values["nats_per_sequence"]) * len(test) / points,
                   "test_lines": len(test), "test_points": points,
                   "parameters": int(model.count_params())}
        for name, report in (getattr(run, "length_reports", None) or {}).items():
            metrics[f"{name}_long_lines"] = report["long_lines"]
            metrics[f"{name}_points_dropped"] = report["points_dropped"]
        return metrics

    # -------------------------------------------------------------------- sampling
    def compiled_sampler(self, model):
        """The sampler of :func:`kerasseq.models.handwriting_sampler`, compiled for the
        backend: ``(noise (n, steps, 4), bias) -> (n, steps, 3)`` normalised points."""
        from kerasseq.models.handwriting import handwriting_sampler

        sample = handwriting_sampler(model)
        if keras.backend.backend() == "jax":
            import jax

            return jax.jit(sample)
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            return tf.function(sample, reduce_retracing=True)
        return sample

    def draw(self, run, model, count: int, steps: int, bias: float, seed: int = 0, sampler=None):
        """``count`` unconditional samples of ``steps`` points, as raw-unit offset rows
        ``(count, steps + 1, 3)`` starting at the origin."""
        from kerasseq.models.handwriting import draw_noise

        sampler = sampler or self.compiled_sampler(model)
        points = keras.ops.convert_to_numpy(sampler(draw_noise(count, steps, seed),
                                                    np.float32(bias)))
        points = np.concatenate([np.zeros((count, 1, 3), np.float32), points], axis=1)
        points[..., :2] *= np.asarray(run.scale, np.float32)
        return points

    def sample(self, run, model, **options):
        """One unconditional sample (``kerasseq sample handwriting --length N --seed S``) as
        text rows ``dx dy end_of_stroke`` in raw units, from the origin; ``bias`` (Python API
        only) is the sampling bias."""
        points = self.draw(run, model, 1, int(options.get("length") or run.config.sample_steps),
                           float(options.get("bias") or 0.0), int(options.get("seed") or 0))[0]
        return "\n".join(f"{dx:g} {dy:g} {int(e)}" for dx, dy, e in points)

    def plots(self, run, model, history):
        """``samples.png`` (``--samples_per_bias`` samples at each ``--sample_biases``) and
        ``density_heatmap.png`` (test line ``--heatmap_line``)."""
        from kerasseq.diagnostics.handwriting_plots import plot_density_heatmap, plot_samples

        c = run.config
        if c.samples_per_bias:
            sampler = self.compiled_sampler(model)
            drawn = {b: list(self.draw(run, model, c.samples_per_bias, c.sample_steps, b, c.seed + k,
                                       sampler))
                     for k, b in enumerate(c.bias_list)}
            plot_samples(drawn, run.artifacts / SAMPLES_FILE,
                         title=f"Unconditional samples, {c.num_layers} × {c.units} LSTM")
        test, _ = self.split(run, ("test",), whole=True)
        if c.heatmap_line >= len(test):
            raise UserError(f"--heatmap_line {c.heatmap_line} is past the {len(test)} test lines")
        points = test.line(c.heatmap_line)[:HEATMAP_POINTS]
        pi, mu, sigma, rho = self.next_point_densities(run, model, points)
        plot_density_heatmap(points, pi, mu, sigma, rho, run.artifacts / HEATMAP_FILE,
                             title=f"Test line {test.line_ids[c.heatmap_line]}: predicted density "
                                   "of the next pen position")

    def next_point_densities(self, run, model, points):
        """``(pi, mu, sigma, rho)`` in raw units that ``model`` predicts for points
        ``1 .. n−1`` of the raw line ``points (n, 3)``: ``(n−1, M)``, ``(n−1, M, 2)`` twice,
        ``(n−1, M)``."""
        from kerasseq.losses.bivariate import MAX_RHO, MAX_SIGMA, MIN_SIGMA
        from kerasseq.losses.mixture_density import mixture_density_params

        y_hat = model(normalise(points[None, :-1], run.scale), training=False)
        params = mixture_density_params(y_hat[0])
        numpy = keras.ops.convert_to_numpy
        pi = numpy(keras.ops.softmax(params["logits"], axis=-1)).astype(np.float64)
        components = numpy(params["components"]).astype(np.float64)  # (n−1, M, 5)
        scale = np.asarray(run.scale, np.float64)
        sigma = np.clip(np.exp(components[..., 2:4]), MIN_SIGMA, MAX_SIGMA) * scale
        rho = np.clip(np.tanh(components[..., 4]), -MAX_RHO, MAX_RHO)
        return pi, components[..., 0:2] * scale, sigma, rho

    # ----------------------------------------------------------------------- export
    def example_input(self, run):
        return np.zeros((1, 8, 3), np.float32)

    def export_endpoints(self, run, archive, serving_model):
        """``sample(count, steps, bias, seed)``: int32, int32, float32, int32 scalars ->
        float32 ``(count, steps, 3)`` points ``(dx, dy, end_of_stroke)`` in raw tablet units
        (the first offset from the origin), drawn with the compiled sampler's loop."""
        import tensorflow as tf

        from kerasseq.models.handwriting import handwriting_sampler

        sampler = handwriting_sampler(serving_model)
        scale = tf.constant(np.append(np.asarray(run.scale, np.float32), 1.0).astype(np.float32))

        def sample(count, steps, bias, seed):
            seeds = tf.stack([seed, tf.constant(0)])
            shape = tf.stack([count, steps, 1])
            noise = tf.concat([
                tf.random.stateless_uniform(shape, seeds),
                tf.random.stateless_normal(tf.stack([count, steps, 2]), seeds + [0, 1]),
                tf.random.stateless_uniform(shape, seeds + [0, 2])], axis=-1)
            return sampler(noise, bias) * scale

        archive.add_endpoint(name="sample", fn=sample, input_signature=[
            tf.TensorSpec([], tf.int32, name="count"), tf.TensorSpec([], tf.int32, name="steps"),
            tf.TensorSpec([], tf.float32, name="bias"), tf.TensorSpec([], tf.int32, name="seed")])


TASK = HandwritingTask()
