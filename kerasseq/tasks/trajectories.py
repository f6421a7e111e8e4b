"""Pedestrian trajectory prediction on ETH/UCY with Social LSTM (Alahi et al. 2016), against the
linear and constant-velocity baselines, leave one scene out.

Each fold trains on the ``train`` windows of the four other scenes, validates (NLL) on their
``val`` windows and scores the held-out scene's ``test`` windows: 8 frames observed (3.2 s), 12
predicted (4.8 s), windows and scored pedestrians exactly as Social GAN's loader makes them
(:mod:`kerasseq.data.trajectories`). The model sees displacements in metres (no other
normalisation) and, for pooling, positions in metres; training windows are rotated by a random
angle (``--augment``). Its loss is the bivariate-Gaussian NLL of every next displacement over
all 20 frames, given the true past (teacher forcing) or, with ``--teacher_forcing false``, given
the model's own rolled-out means over the 12 predicted frames (closed loop, as at test);
forecasts roll the means out (deterministic) or sampled displacements (best-of-N).

Reported per scene, in metres, never mixed: ADE/FDE of one deterministic forecast (the model's
means, the least-squares line, constant velocity), and best-of-N (``--samples``, 20) ADE/FDE
(the model's sampled futures, constant velocity with 25° angular noise) as Social GAN computes
it: in each window the sample with the smallest error summed over its pedestrians (ADE and FDE
each on its own); ``*_per_pedestrian`` keeps each pedestrian's own best sample (looser). ``--test_scene all`` trains the five
folds and writes the table ``trajectory_table.md`` and per-scene bars.

The exported SavedModel adds ``forecast(positions, mask)``: one window's observed positions
``[P, 8, 2]`` (metres) and presence ``[P, 8]`` to ``{"positions": [P, 12, 2], "gaussians":
[P, 12, 5]}`` (μx, μy, σx, σy, ρ of each predicted position).
"""

from __future__ import annotations

import json

import keras
import numpy as np

from kerasseq.data.trajectories import OBSERVED, PREDICTED, SCENES, batch_plan, load_windows, pad_windows
from kerasseq.tasks.base import Task
from kerasseq.tasks.configs import TrajectoryConfig

SCORES_FILE = "trajectory_scores.json"
TABLE_FILE = "trajectory_table.md"
# Pooling cost grows with windows × pedestrians²: evaluation batches stay under this.
EVAL_BUDGET = 64 * 32 * 32
DENSITY_ROLLOUTS = 100  # sampled rollouts mixed in the density pictures


def training_targets(positions, present, observed=None):
    """Next displacements with their validity: ``(n, P, T − 1, 3)`` for
    :class:`~kerasseq.losses.BivariateGaussianNLL`. With ``observed`` (closed-loop training),
    the steps after it count only for pedestrians present in the last observed frame: the
    others are not rolled out."""
    step = positions[:, :, 1:] - positions[:, :, :-1]
    valid = present[:, :, 1:] & present[:, :, :-1]
    if observed is not None:
        valid[:, :, observed:] &= present[:, :, observed - 1:observed]
    return np.concatenate([np.where(valid[..., None], step, 0.0), valid[..., None]], -1).astype(np.float32)


def rotate(positions, angles):
    """Rotate each window ``(n, P, T, 2)`` by its angle ``(n,)`` about the origin."""
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    x, y = positions[..., 0], positions[..., 1]
    return np.stack([cos * x - sin * y, sin * x + cos * y], -1).astype(np.float32)


class TrajectoryTask(Task):
    name = "trajectories"
    description = "Social LSTM, O-LSTM or a vanilla LSTM on ETH/UCY, leave one scene out"
    config_class = TrajectoryConfig

    def folds(self, config):
        if config.test_scene == "all":
            return [(scene, {"test_scene": scene}) for scene in SCENES]
        return None

    # ------------------------------------------------------------------------- data
    def windows(self, run, split: str):
        """The windows of ``split`` of the run's fold (read once per run)."""
        cache = run.__dict__.setdefault("_trajectory_windows", {})
        if split not in cache:
            c = run.config
            if c.test_scene == "all":
                from kerasseq.errors import UserError

                raise UserError("--test_scene all trains one model per scene: kerasseq train "
                                "trajectories --test_scene all")
            windows = load_windows(c.test_scene, split, c.data_dir or None, c.download)
            limit = {"train": c.max_train_windows, "val": c.max_val_windows,
                     "test": c.max_test_windows}[split]
            if limit and limit < len(windows):  # evenly spaced: every part of the files
                windows = windows.subset(np.linspace(0, len(windows) - 1, limit).round().astype(int))
            cache[split] = windows
        return cache[split]

    def datasets(self, run):
        from kerasseq.data.epochs import epoch_dataset

        c = run.config
        train, val = self.windows(run, "train"), self.windows(run, "val")
        observed = None if c.teacher_forcing else OBSERVED

        def load(item):
            indices, augment_seed = item
            positions, present, _ = pad_windows(train, indices)
            if augment_seed is not None:
                angles = np.random.default_rng(augment_seed).uniform(0, 2 * np.pi, len(indices))
                positions = np.where(present[..., None], rotate(positions, angles), 0.0)
            return (positions, present.astype(np.float32)), training_targets(positions, present, observed)

        def plan(epoch):
            rng = np.random.default_rng([c.seed, epoch])
            batches = batch_plan(train, c.batch_size, rng)
            return [(b, [c.seed, epoch, i] if c.augment else None) for i, b in enumerate(batches)]

        frames = OBSERVED + PREDICTED
        try:
            import tensorflow as tf

            signature = ((tf.TensorSpec((None, None, frames, 2), tf.float32),
                          tf.TensorSpec((None, None, frames), tf.float32)),
                         tf.TensorSpec((None, None, frames - 1, 3), tf.float32))
        except ModuleNotFoundError:
            signature = None
        train_ds = epoch_dataset(plan, load, signature, first_epoch=run.initial_epoch)
        val_batches = []
        for indices in batch_plan(val, c.batch_size):
            positions, present, _ = pad_windows(val, indices)
            val_batches.append(((positions, present.astype(np.float32)),
                                training_targets(positions, present, observed)))
        val_ds = epoch_dataset(lambda epoch: val_batches, lambda batch: batch, signature)
        return train_ds, val_ds

    # ------------------------------------------------------------------------ model
    def build_model(self, run):
        from kerasseq.models.trajectories import build_trajectory_model

        c = run.config
        return build_trajectory_model("none" if c.model == "vanilla" else c.model,
                                      OBSERVED + PREDICTED, c.units, c.embedding_dim, c.grid_size,
                                      c.neighborhood, seed=c.seed, name=f"{c.model}_lstm",
                                      teacher_forced_frames=None if c.teacher_forcing else OBSERVED)

    def compile_args(self, run):
        from kerasseq.losses import BivariateGaussianNLL

        return dict(loss=BivariateGaussianNLL())

    # ------------------------------------------------------------------- evaluation
    def forecasts(self, run, model, windows, indices, samples: int = 0):
        """The model's deterministic forecast of windows ``indices`` and, with ``samples``,
        that many sampled futures: ``(positions (n, P, 20, 2), present, scored, mean (n, P,
        12, 2), gaussians (n, P, 12, 5), sampled)``; ``sampled`` is ``None`` or
        ``(positions (samples, n, P, 12, 2), gaussians (samples, n, P, 12, 5))``, each
        sample's Gaussians given its own sampled past."""
        from kerasseq.models.trajectories import build_trajectory_forecaster

        cache = run.__dict__.setdefault("_forecasters", {})
        if id(model) not in cache:
            cache.clear()
            cache[id(model)] = (build_trajectory_forecaster(model, OBSERVED, PREDICTED),
                                build_trajectory_forecaster(model, OBSERVED, PREDICTED, sample=True))
        forecaster, sampler = cache[id(model)]
        positions, present, scored = pad_windows(windows, indices)
        observed = [positions[:, :, :OBSERVED], present[:, :, :OBSERVED].astype(np.float32)]
        # Eager calls: a compiled forecaster would be traced again for every batch shape,
        # which costs more than the eager dispatch of its few hundred small ops.
        numpy = lambda out: {k: keras.ops.convert_to_numpy(v) for k, v in out.items()}  # noqa: E731
        out = numpy(forecaster(observed, training=False))
        sampled = None
        if samples:
            drawn = numpy(sampler([np.repeat(x, samples, axis=0) for x in observed], training=False))
            sampled = tuple(drawn[k].reshape(len(indices), samples, *drawn[k].shape[1:]).swapaxes(0, 1)
                            for k in ("positions", "gaussians"))
        return positions, present, scored, out["positions"], out["gaussians"], sampled

    def evaluate(self, run, model, val_ds):
        """ADE/FDE of the model and the baselines on the held-out scene (``trajectory_scores.json``
        keeps them per pedestrian-window count); the validation NLL."""
        from keras.utils import Progbar

        from kerasseq.metrics.trajectories import best_of, displacement_errors
        from kerasseq.trajectory_baselines import (constant_velocity, linear_extrapolation,
                                                   sampled_constant_velocity)

        c = run.config
        test = self.windows(run, "test")
        errors = {key: [] for key in ("model", "linear", "constant_velocity")}
        best = {key: [] for key in ("model", "constant_velocity")}  # Social GAN's, per window
        best_each = {key: [] for key in ("model", "constant_velocity")}  # per pedestrian
        rng = np.random.default_rng(c.seed)
        bar = Progbar(len(test), unit_name="window")
        order = np.argsort(test.pedestrians, kind="stable")
        start = 0
        while start < len(order):  # batches of similar size under the pooling budget
            size = 1
            for _ in range(2):  # the batch's largest window sets its padded size
                peds = int(-(-test.pedestrians[order[min(start + size, len(order)) - 1]] // 8) * 8)
                size = max(1, EVAL_BUDGET // (c.samples * peds * peds))
            indices = order[start:start + size]
            positions, present, scored, mean, _, sampled = self.forecasts(run, model, test, indices, c.samples)
            tracks = positions[scored]  # (tracks, 20, 2)
            observed, truth = tracks[:, :OBSERVED], tracks[:, OBSERVED:]
            errors["model"].append(displacement_errors(mean[scored], truth))
            errors["linear"].append(displacement_errors(linear_extrapolation(observed, PREDICTED), truth))
            errors["constant_velocity"].append(displacement_errors(constant_velocity(observed, PREDICTED), truth))
            window = np.nonzero(scored)[0]  # the window of each scored track
            cv_samples = sampled_constant_velocity(observed, PREDICTED, c.samples, rng=rng)
            for key, drawn in (("model", sampled[0][:, scored]), ("constant_velocity", cv_samples)):
                best[key].append(best_of(drawn, truth, window))
                best_each[key].append(best_of(drawn, truth))
            bar.add(len(indices))
            start += len(indices)
        metrics = {"test_tracks": int(test.scored.sum()), "test_windows": len(test),
                   "neighbour_tracks": int((~test.scored).sum()),
                   "parameters": int(model.count_params())}
        for table, suffix in ((errors, ""), (best, f"_best{c.samples}"),
                              (best_each, f"_best{c.samples}_per_pedestrian")):
            for key, parts in table.items():
                metrics[f"{key}_ade{suffix}"] = float(np.concatenate([p[0] for p in parts]).mean())
                metrics[f"{key}_fde{suffix}"] = float(np.concatenate([p[1] for p in parts]).mean())
        values = model.evaluate(val_ds, verbose=0, return_dict=True)
        metrics["val_nll"] = float(values["loss"])
        (run.dir / SCORES_FILE).write_text(json.dumps(
            {"scene": c.test_scene, "model": c.model, "samples": c.samples, "metrics": metrics,
             "counts": test.counts}, indent=1))
        return metrics

    def plots(self, run, model, history):
        from kerasseq.diagnostics.trajectory_plots import plot_forecast_scene, plot_predicted_density
        from kerasseq.trajectory_baselines import constant_velocity

        c = run.config
        if not c.plots:
            return
        test = self.windows(run, "test")
        # The busiest windows (most scored pedestrians) show the most interaction.
        per_window = np.add.reduceat(test.scored.astype(int), test.offsets[:-1]) if len(test) else []
        chosen = np.argsort(-np.asarray(per_window), kind="stable")[:c.plots]
        for n, w in enumerate(chosen):
            positions, present, scored, mean, _, sampled = self.forecasts(
                run, model, test, [w], max(c.samples, DENSITY_ROLLOUTS))
            positions, present, scored = positions[0], present[0], scored[0]
            observed = positions[:, :OBSERVED]
            title = f"{c.test_scene}, window from frame {test.origin[w, 1]} ({scored.sum()} scored)"
            plot_forecast_scene(observed, present[:, :OBSERVED], positions[:, OBSERVED:], scored,
                                {f"{c.model} LSTM (mean; thin: {c.samples} samples)": mean[0],
                                 "constant velocity": constant_velocity(observed, PREDICTED)},
                                run.artifacts / f"forecast_{n}.png", title,
                                samples=sampled[0][:c.samples, 0])
            plot_predicted_density(observed, present[:, :OBSERVED], positions[:, OBSERVED:], scored,
                                   sampled[1][:, 0], run.artifacts / f"density_{n}.png",
                                   f"{c.model} LSTM: predicted density of each future step "
                                   f"({len(sampled[1])} rollouts)\n{title}")

    def summarize_folds(self, config, run_dir, names, metrics):
        """``trajectory_table.md`` (ADE/FDE per scene and their average, deterministic and
        best-of-N apart) and ``trajectory_errors.png``."""
        from kerasseq.diagnostics.trajectory_plots import plot_scene_errors

        table = trajectory_table({f"{config.model}_lstm": dict(zip(names, metrics))})
        path = run_dir / TABLE_FILE
        path.write_text(table["markdown"])
        print(table["markdown"])
        bars = plot_scene_errors(table["deterministic"], run_dir / "trajectory_errors.png",
                                 "ADE/FDE per held-out scene (deterministic)")
        return [path, bars]

    # ----------------------------------------------------------------------- export
    def serving_model(self, run, model):
        """The deterministic forecaster: observed windows in, means and Gaussians out."""
        from kerasseq.models.trajectories import build_trajectory_forecaster

        return build_trajectory_forecaster(model, OBSERVED, PREDICTED)

    def example_input(self, run):
        positions = np.cumsum(np.full((1, 3, OBSERVED, 2), 0.4, np.float32), axis=2)
        positions[0, 1] += [1.0, 0.0]
        positions[0, 2] += [0.0, 1.5]
        return [positions, np.ones((1, 3, OBSERVED), np.float32)]

    def export_endpoints(self, run, archive, serving_model):
        import tensorflow as tf

        def forecast(positions, mask):
            out = serving_model([positions[None], mask[None]], training=False)
            return {"positions": out["positions"][0], "gaussians": out["gaussians"][0]}

        archive.add_endpoint(name="forecast", fn=forecast, input_signature=[
            tf.TensorSpec([None, OBSERVED, 2], tf.float32, name="positions"),
            tf.TensorSpec([None, OBSERVED], tf.float32, name="mask")])


def trajectory_table(runs: dict) -> dict:
    """The per-scene tables of one or more models' folds, with the baselines once.

    Args:
        runs: ``{model label: {scene: final metrics of that fold}}`` (the baselines are taken
            from the first model's folds: they do not depend on the model).

    Returns:
        ``{"markdown": two tables (deterministic; best of N), "deterministic": {method:
        {scene: (ade, fde)}}, "best": {...}}`` with an ``AVG`` column, the mean over scenes
        as Social GAN's Table 1 averages.
    """
    first = next(iter(runs.values()))
    scenes = list(first)
    sample = first[scenes[0]]
    best = next((k[len("model_ade"):] for k in sample
                 if k.startswith("model_ade_best") and k[len("model_ade_best"):].isdigit()), "")
    rows = {"deterministic": [("linear", first, "linear"), ("constant_velocity", first, "constant_velocity")],
            "best": [("constant_velocity", first, "constant_velocity")]}
    for label, folds in runs.items():
        for group in rows:
            rows[group].append((label, folds, "model"))
    out, lines = {}, []
    for group, methods in rows.items():
        suffix = best if group == "best" else ""
        title = "deterministic (one forecast)" if group == "deterministic" else \
            f"best of {best.removeprefix('_best')}"
        lines += [f"ADE / FDE in metres, {title}:", "",
                  "| method | " + " | ".join(scenes) + " | AVG |",
                  "|---" * (len(scenes) + 2) + "|"]
        out[group] = {}
        for label, folds, key in methods:
            pairs = {s: (folds[s][f"{key}_ade{suffix}"], folds[s][f"{key}_fde{suffix}"]) for s in scenes}
            out[group][label] = pairs
            avg = (np.mean([p[0] for p in pairs.values()]), np.mean([p[1] for p in pairs.values()]))
            lines.append(f"| {label} | " + " | ".join(f"{a:.2f} / {f:.2f}" for a, f in
                                                       [*pairs.values(), avg]) + " |")
        lines.append("")
    out["markdown"] = "\n".join(lines)
    return out


def read_folds(run_dir) -> dict:
    """``{scene: metrics}`` of a ``--test_scene all`` run folder, in :data:`SCENES` order: each
    fold's latest evaluation (``trajectory_scores.json``, which ``kerasseq evaluate`` rewrites),
    else its final ``metrics.json``."""
    from pathlib import Path

    folds = {}
    for scene in SCENES:
        fold = Path(run_dir) / scene
        if (fold / SCORES_FILE).exists():
            folds[scene] = json.loads((fold / SCORES_FILE).read_text())["metrics"]
        elif (fold / "metrics.json").exists():
            folds[scene] = json.loads((fold / "metrics.json").read_text())
    return folds


TASK = TrajectoryTask()
