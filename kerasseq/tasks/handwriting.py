"""Handwriting prediction and synthesis on IAM-OnDB (Graves 2013, "Generating sequences with
recurrent neural networks", sections 4 and 5).

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

``--model synthesis`` conditions the network on each line's text (Graves section 5:
:func:`kerasseq.models.build_handwriting_synthesizer`, a soft window over the characters). The
alphabet is the training transcriptions' characters, saved in the run folder
(``handwriting_alphabet.json``); lines without a transcription are left out of its training
and scoring (counted in the metrics). Its artifacts: ``samples.png`` (``--text`` written at
each bias), ``primed_sample.png`` (after priming with test line ``--prime_line``, section 5.5)
and ``window_weights.png`` (Graves' Figure 13). Its SavedModel's ``write(text, prime, bias,
seed, steps)`` writes a text string (the alphabet lookup inside the graph).
"""

from __future__ import annotations

import json
import weakref

import keras
import numpy as np

from kerasseq.data.handwriting import (encode_texts, limit_length, line_dataset, load_iam_ondb,
                                       normalise, offset_scale, split_lines, text_alphabet)
from kerasseq.errors import UserError
from kerasseq.tasks.base import Task
from kerasseq.tasks.handwriting_config import HandwritingConfig

SCALE_FILE = "handwriting_scale.json"
ALPHABET_FILE = "handwriting_alphabet.json"
PRIMED_FILE = "primed_sample.png"
WINDOW_FILE = "window_weights.png"
SAMPLES_FILE = "samples.png"
HEATMAP_FILE = "density_heatmap.png"
HEATMAP_POINTS = 500  # the heat map's line is cut to this many points (a readable figure)
_SAMPLERS = weakref.WeakKeyDictionary()  # model -> its compiled sampler


class HandwritingTask(Task):
    name = "handwriting"
    description = "handwriting prediction and synthesis on IAM-OnDB (Graves 2013)"
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
        path, alphabet_path = run.dir / SCALE_FILE, run.dir / ALPHABET_FILE
        synthesis = run.config.model == "synthesis"
        if path.exists() and (alphabet_path.exists() or not synthesis):
            run.scale = np.asarray(json.loads(path.read_text())["scale"])
            run.alphabet = json.loads(alphabet_path.read_text())["alphabet"] if synthesis else None
            return
        train = split_lines(self.lines(run), run.config.split_list)
        run.scale = offset_scale(train)
        path.write_text(json.dumps({"scale": run.scale.tolist(), "train_splits": run.config.train_splits,
                                    "train_lines": len(train)}))
        run.alphabet = None
        if synthesis:  # the characters of the transcriptions trained on (ids 1 .. V − 1)
            run.alphabet = text_alphabet(train)
            alphabet_path.write_text(json.dumps({"alphabet": run.alphabet,
                                                 "train_splits": run.config.train_splits}))

    def split(self, run, names, limit: int = 0, whole: bool = False):
        """The lines of ``names``, the first ``limit`` (0: all), after ``--max_points`` unless
        ``whole``; and the length report of :func:`kerasseq.data.handwriting.limit_length`."""
        c = run.config
        lines = split_lines(self.lines(run), names)
        if c.model == "synthesis":  # a line without its text cannot teach or score the window
            has_text = np.array([bool(t) for t in lines.texts], bool)
            run.lines_without_text = {**getattr(run, "lines_without_text", {}),
                                      "+".join(names): int((~has_text).sum())}
            lines = lines.subset(has_text)
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
        train_ds = line_dataset(train, run.scale, c.batch_size, train=True, bucket_width=c.bucket_width,
                                seed=c.seed, first_epoch=run.initial_epoch, alphabet=run.alphabet)
        return (train_ds, line_dataset(val, run.scale, c.batch_size, train=False,
                                       bucket_width=c.bucket_width, alphabet=run.alphabet))

    # ------------------------------------------------------------------------ model
    def build_model(self, run):
        from kerasseq.models.handwriting import build_handwriting_predictor

        c = run.config
        # Graves' limits are on one line's L(x); the per-line loss is averaged over the batch,
        # so each line's derivatives arrive divided by the batch size, and so are the limits.
        clips = dict(lstm_derivative_clip=c.lstm_derivative_clip / c.batch_size or None,
                     output_derivative_clip=c.output_derivative_clip / c.batch_size or None)
        if c.model == "synthesis":
            from kerasseq.models.handwriting_synthesis import build_handwriting_synthesizer

            return build_handwriting_synthesizer(len(run.alphabet) + 1, c.num_layers, c.units,
                                                 c.num_components, c.window_components, **clips)
        return build_handwriting_predictor(c.num_layers, c.units, c.num_components,
                                           c.skip_connections, **clips)

    def compile_args(self, run):
        from kerasseq.losses import MixtureDensityNLL
        from kerasseq.metrics import MixtureDensityNatsPerSequence

        return dict(loss=MixtureDensityNLL(per_sequence=run.config.loss == "per_line"),
                    metrics=[MixtureDensityNatsPerSequence()])

    def jit_compile(self, run):
        """XLA off on TensorFlow's CPU (as for the other recurrent tasks there)."""
        return self.jit_off_on_tensorflow_cpu(super().jit_compile(run))

    # ------------------------------------------------------------------- evaluation
    def evaluate(self, run, model, val_ds):
        """Test NLL in nats per line over whole test lines (Graves' figure), per point, and
        the training lines ``--max_points`` cut or skipped."""
        c = run.config
        test, _ = self.split(run, ("test",), c.test_lines, whole=True)
        test_ds = line_dataset(test, run.scale, c.batch_size, train=False, bucket_width=c.bucket_width,
                               alphabet=run.alphabet)
        values = model.evaluate(test_ds, verbose=0, return_dict=True)
        points = int((test.lengths - 1).sum())
        metrics = {}
        if c.model == "synthesis":
            # Characters outside the training alphabet are read as padding: counted here.
            metrics["test_unknown_characters"] = encode_texts(test.texts, run.alphabet)[1]
            for names, count in getattr(run, "lines_without_text", {}).items():
                metrics[f"{names.replace('+', '_')}_lines_without_text"] = count
        metrics = {**metrics,"test_nats_per_line": float(values["nats_per_sequence"]),
                   "test_nats_per_point": float(values["nats_per_sequence"]) * len(test) / points,
                   "test_lines": len(test), "test_points": points,
                   "parameters": int(model.count_params())}
        for name, report in (getattr(run, "length_reports", None) or {}).items():
            metrics[f"{name}_long_lines"] = report["long_lines"]
            metrics[f"{name}_points_dropped"] = report["points_dropped"]
        return metrics

    # -------------------------------------------------------------------- sampling
    def compiled_sampler(self, model):
        """The sampler of :func:`kerasseq.models.handwriting_sampler` (or, for a synthesis
        network, :func:`kerasseq.models.handwriting_synthesis_sampler`), compiled for the
        backend: ``(noise (n, steps, 4), bias) -> (n, steps, 3)`` normalised points."""
        from kerasseq.models.handwriting import handwriting_sampler
        from kerasseq.models.handwriting_synthesis import handwriting_synthesis_sampler

        if model in _SAMPLERS:  # one compilation per model, however often it samples
            return _SAMPLERS[model]
        synthesis = any(layer.name == "window_lstm" for layer in model.layers)
        sample = (handwriting_synthesis_sampler if synthesis else handwriting_sampler)(model)
        if keras.backend.backend() == "jax":
            import jax

            sample = jax.jit(sample)
        elif keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            sample = tf.function(sample, reduce_retracing=True)
        _SAMPLERS[model] = sample
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

    def encode_text(self, run, text: str) -> np.ndarray:
        """int32 ``(1, U)`` ids of ``text`` in the run's alphabet; characters outside it are a
        UserError naming them."""
        unknown = sorted(set(text) - set(run.alphabet))
        if unknown or not text:
            raise UserError(f"--text {text!r}: " + (
                f"the characters {''.join(unknown)!r} are not in the alphabet the model was trained "
                f"on ({run.alphabet!r})" if unknown else "empty"))
        return encode_texts([text], run.alphabet)[0]

    def write(self, run, model, text: str, count: int, steps: int, bias: float, seed: int = 0,
              prime=None, sampler=None):
        """``count`` lines of the synthesis network writing ``text`` (at most ``steps``
        points, Graves' stopping rule), each as raw-unit offset rows ``(n + 1, 3)`` from the
        origin; ``prime`` (raw offset rows of a real line, its origin first) primes each one
        (then ``text`` must start with that line's text)."""
        from kerasseq.models.handwriting import draw_noise

        sampler = sampler or self.compiled_sampler(model)
        ids = np.repeat(self.encode_text(run, text), count, axis=0)
        primed = np.zeros((count, 0, 3), np.float32) if prime is None else \
            np.repeat(normalise(prime[None, 1:], run.scale), count, axis=0)
        points, lengths = sampler(ids, draw_noise(count, steps, seed), np.float32(bias), primed)
        points, lengths = keras.ops.convert_to_numpy(points), keras.ops.convert_to_numpy(lengths)
        points[..., :2] *= np.asarray(run.scale, np.float32)
        return [np.concatenate([np.zeros((1, 3), np.float32), p[:n]]) for p, n in zip(points, lengths)]

    def sample(self, run, model, **options):
        """One sample as text rows ``dx dy end_of_stroke`` in raw units from the origin, or,
        with ``out`` (``--out line.svg`` or ``.png``), written to that file.

        ``kerasseq sample handwriting [--text "..."] [--bias 1.0] [--length N] [--seed S]
        [--out line.svg]``: a synthesis run writes ``--text`` (default: the run's ``--text``) in
        at most ``--length`` points; a prediction run draws ``--length`` unconditional points.
        """
        c = run.config
        length = int(options.get("length") or c.sample_steps)
        bias, seed = float(options.get("bias") or 0.0), int(options.get("seed") or 0)
        if bias < 0:
            raise UserError(f"--bias must be >= 0 (Graves section 5.4); got {bias:g}")
        if c.model == "synthesis":
            points = self.write(run, model, options.get("text") or c.text, 1, length, bias, seed)[0]
        elif options.get("text"):
            raise UserError("--text needs a run trained with --model synthesis; this run is a "
                            "prediction network (unconditional samples)")
        else:
            points = self.draw(run, model, 1, length, bias, seed)[0]
        if options.get("out"):
            from kerasseq.diagnostics.handwriting_plots import write_line

            try:
                path = write_line(points, options["out"])
            except ValueError as exc:
                raise UserError(f"--out {options['out']}: expected a path ending in .svg or .png") from exc
            return f"wrote {len(points) - 1} points to {path}"
        return "\n".join(f"{dx:g} {dy:g} {int(e)}" for dx, dy, e in points)

    def plots(self, run, model, history):
        """``samples.png`` (``--samples_per_bias`` samples at each ``--sample_biases``) and
        ``density_heatmap.png`` (test line ``--heatmap_line``)."""
        from kerasseq.diagnostics.handwriting_plots import plot_density_heatmap, plot_samples

        c = run.config
        if c.model == "synthesis":
            return self.synthesis_plots(run, model)
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

    def synthesis_plots(self, run, model):
        """``samples.png`` (``--text`` written ``--samples_per_bias`` times at each
        ``--sample_biases``), ``primed_sample.png`` (primed with test line ``--prime_line``,
        at the largest bias) and ``window_weights.png`` (φ of the first sample at the largest
        bias, Graves' Figure 13)."""
        from kerasseq.diagnostics.handwriting_plots import plot_primed, plot_samples, plot_window_weights
        from kerasseq.models.handwriting_synthesis import window_model

        c = run.config
        sampler = self.compiled_sampler(model)
        count = max(c.samples_per_bias, 1)
        drawn = {b: self.write(run, model, c.text, count, c.sample_steps, b, c.seed + k, sampler=sampler)
                 for k, b in enumerate(c.bias_list)}
        if c.samples_per_bias:
            plot_samples(drawn, run.artifacts / SAMPLES_FILE,
                         title=f"Synthesis samples of {c.text!r}, {c.num_layers} × {c.units} LSTM")
        top = max(c.bias_list)
        line = drawn[top][0]
        _, phi = window_model(model)([normalise(line[None, :-1], run.scale), self.encode_text(run, c.text)])
        plot_window_weights(keras.ops.convert_to_numpy(phi)[0], c.text, line, run.artifacts / WINDOW_FILE,
                            title=f"Window weights while writing {c.text!r} (bias {top:g})")
        test, _ = self.split(run, ("test",), whole=True)
        if c.prime_line >= len(test):
            raise UserError(f"--prime_line {c.prime_line} is past the {len(test)} test lines with text")
        prime = test.line(c.prime_line)
        written = self.write(run, model, f"{test.texts[c.prime_line]} {c.text}", 1, c.sample_steps, top,
                             c.seed, prime=prime, sampler=sampler)[0]
        plot_primed(prime, written, run.artifacts / PRIMED_FILE,
                    title=f"Primed with test line {test.line_ids[c.prime_line]} "
                          f"({test.texts[c.prime_line]!r}), then {c.text!r} at bias {top:g}")

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
        if run.config.model == "synthesis":
            return [np.zeros((1, 8, 3), np.float32), np.ones((1, 4), np.int32)]
        return np.zeros((1, 8, 3), np.float32)

    def export_endpoints(self, run, archive, serving_model):
        """``sample(count, steps, bias, seed)``: int32, int32, float32, int32 scalars ->
        float32 ``(count, steps, 3)`` points ``(dx, dy, end_of_stroke)`` in raw tablet units
        (the first offset from the origin), drawn with the compiled sampler's loop."""
        import tensorflow as tf

        from kerasseq.models.handwriting import handwriting_sampler

        scale = tf.constant(np.append(np.asarray(run.scale, np.float32), 1.0).astype(np.float32))

        def noise_of(count, steps, seed):
            seeds = tf.stack([seed, tf.constant(0)])
            shape = tf.stack([count, steps, 1])
            return tf.concat([
                tf.random.stateless_uniform(shape, seeds),
                tf.random.stateless_normal(tf.stack([count, steps, 2]), seeds + [0, 1]),
                tf.random.stateless_uniform(shape, seeds + [0, 2])], axis=-1)

        if run.config.model == "synthesis":
            return self.export_write_endpoint(run, archive, serving_model, noise_of, scale)
        sampler = handwriting_sampler(serving_model)

        def sample(count, steps, bias, seed):
            return sampler(noise_of(count, steps, seed), bias) * scale

        archive.add_endpoint(name="sample", fn=sample, input_signature=[
            tf.TensorSpec([], tf.int32, name="count"), tf.TensorSpec([], tf.int32, name="steps"),
            tf.TensorSpec([], tf.float32, name="bias"), tf.TensorSpec([], tf.int32, name="seed")])

    def export_write_endpoint(self, run, archive, serving_model, noise_of, scale):
        """The synthesis network's ``write(text, prime, bias, seed, steps)``: a UTF-8 string of
        alphabet characters (looked up inside the graph; any other character fails an assertion
        that names the alphabet), raw priming offsets ``(P, 3)`` after the origin (``P = 0``: no
        priming; then ``text`` starts with the priming line's text), float32, int32, int32 scalars
        -> ``{"points": float32 (steps, 3) raw offsets (dx, dy, end_of_stroke) after the origin
        (and after the priming), "length": int32, the points before Graves' stopping rule fired}``."""
        import tensorflow as tf

        from kerasseq.models.handwriting_synthesis import handwriting_synthesis_sampler

        sampler = handwriting_synthesis_sampler(serving_model)
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(list(run.alphabet)),
                                                tf.range(1, len(run.alphabet) + 1, dtype=tf.int32)),
            default_value=0)

        def write(text, prime, bias, seed, steps):
            ids = table.lookup(tf.strings.unicode_split(text, "UTF-8"))  # (U,)
            tf.debugging.assert_greater(tf.size(ids), 0, message="text is empty")
            tf.debugging.assert_greater(tf.reduce_min(ids), 0, message=(
                f"text has characters outside the alphabet the model was trained on: {run.alphabet!r}"))
            points, lengths = sampler(ids[None], noise_of(1, steps, seed), bias, (prime / scale)[None])
            return {"points": (points * scale)[0], "length": lengths[0]}

        archive.track(table)
        archive.add_endpoint(name="write", fn=write, input_signature=[
            tf.TensorSpec([], tf.string, name="text"), tf.TensorSpec([None, 3], tf.float32, name="prime"),
            tf.TensorSpec([], tf.float32, name="bias"), tf.TensorSpec([], tf.int32, name="seed"),
            tf.TensorSpec([], tf.int32, name="steps")])


TASK = HandwritingTask()

