"""Hyperparameter search over the shared runner, with KerasTuner.

``kerasseq tune TASK`` asks one of KerasTuner's oracles (Bayesian optimisation with a
Gaussian process, Hyperband, random search) for settings from the task's ``SEARCH_SPACE``
(:mod:`kerasseq.search_space`). Each trial is an ordinary run of
:func:`kerasseq.training.train` in ``RUN_DIR/trial_NNN`` (checkpoints, resuming and evaluation
as in ``kerasseq train``) and a nested MLflow run under one parent run for the search, which
receives each trial's objective, the best trial's settings, and a table and a plot of the
trials. The oracle keeps its state in ``RUN_DIR/keras_tuner`` and is reloaded, never
overwritten: the same command run again continues an interrupted search without repeating
finished trials, and the interrupted trial resumes from its last checkpoint::

    from kerasseq.search_space import searched_space
    config = task.config_class(fold=0)
    result = tune(task, config, searched_space(config), ("dev_accuracy", "max"), trials=8)
"""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
from pathlib import Path

import keras
import keras_tuner
from keras_tuner.engine.base_tuner import BaseTuner

from kerasseq.errors import CheckpointError, UserError
from kerasseq.search_space import describe, protocol_config, train_command, trial_config
from kerasseq.tracking import Tracker
from kerasseq.training import METRICS_FILE, RESUMABLE_CHANGES, TrainingError, train

STATE_FILE = "tune_state.json"  # the search's settings and MLflow parent run
RESULTS_FILE = "tune_results.json"  # every trial, the best one and its command
TABLE_FILE = "trials.csv"
PLOT_FILE = "trials.png"
ORACLE_DIR = "keras_tuner"  # KerasTuner's project folder: the oracle's state and trials


def default_tune_dir(task_name: str) -> Path:
    return Path("runs") / f"{task_name}_tune"


def trial_dir(run_dir, trial_id) -> Path:
    """The runner's folder of a trial (KerasTuner's ids are zero-padded to --trials' width)."""
    return Path(run_dir) / f"trial_{int(trial_id):03d}"


class _StopSearch(keras_tuner.errors.FatalError):
    """Carries an error out of KerasTuner, which would otherwise record it as an invalid
    trial and go on to the next."""


class TaskTuner(BaseTuner):
    """KerasTuner's search loop with every trial trained by :func:`kerasseq.training.train`."""

    def __init__(self, oracle, task, config, run_dir: Path, parent: Tracker, verbose="auto"):
        self.task, self.config, self.run_dir = task, config, Path(run_dir)
        self.parent, self.verbose = parent, verbose
        super().__init__(oracle, directory=str(run_dir), project_name=ORACLE_DIR, overwrite=False)

    def on_search_begin(self):
        self.save()  # KerasTuner reloads only a saved tuner: a search stopped in trial 1 too

    def run_trial(self, trial):
        values = active_values(trial.hyperparameters)
        folder = trial_dir(self.run_dir, trial.trial_id)
        try:
            if (folder / METRICS_FILE).exists():  # trained, but stopped before the oracle heard
                metrics = json.loads((folder / METRICS_FILE).read_text())
            else:
                keras.backend.clear_session()
                metrics = train(self.task, trial_config(self.config, values), folder,
                                tracking=self.parent.enabled, verbose=self.verbose, export=False,
                                nested=True)
        except TrainingError as error:  # the loss became NaN: a failed trial, the search goes on
            raise keras_tuner.errors.FailedTrialError(str(error)) from error
        except Exception as error:  # a mistake or a bug: stop; the same command resumes here
            raise _StopSearch() from error
        name = self.oracle.objective.name
        if name not in metrics:
            raise _StopSearch() from UserError(
                f"--objective {name} is not a final metric of {self.task.name}; its trials report "
                f"{', '.join(metrics)}")
        return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        trial = self.oracle.get_trial(trial.trial_id)
        if trial.status == "COMPLETED":
            name = self.oracle.objective.name
            self.parent.log_metrics({name: trial.score,
                                     f"best_{name}": self.oracle.get_best_trials(1)[0].score},
                                    step=int(trial.trial_id))  # the trial_NNN folder's number


def active_values(hyperparameters) -> dict:
    """A trial's values, less the conditional ones that do not apply (``units`` for a CNN);
    Hyperband's ``tuner/epochs`` and friends are kept."""
    return {k: v for k, v in hyperparameters.values.items()
            if k.startswith("tuner/") or hyperparameters.is_active(k)}


def declare(space: dict, config) -> keras_tuner.HyperParameters:
    """KerasTuner's search space from specs of :mod:`kerasseq.search_space`, each defaulting
    to the task's own default where that lies in it."""
    hp = keras_tuner.HyperParameters()
    for name, spec in space.items():
        with contextlib.ExitStack() as scopes:
            for parent, values in spec.get("when", {}).items():
                scopes.enter_context(hp.conditional_scope(parent, values))
            default = getattr(config, name)
            if spec["type"] == "choice":
                hp.Choice(name, spec["values"], default=default if default in spec["values"] else None)
                continue
            inside = spec["min_value"] <= default <= spec["max_value"]
            kind = hp.Int if spec["type"] == "int" else hp.Float
            kind(name, spec["min_value"], spec["max_value"], step=spec["step"],
                 sampling=spec["sampling"], default=default if inside else None)
    return hp


def make_oracle(tuner: str, objective: tuple[str, str], hyperparameters, trials: int, seed: int,
                max_epochs: int, initial_points: int = 0):
    """One of KerasTuner's oracles.

    ``bayesian``: ``initial_points`` random trials (default: half of ``trials``, at least 2;
    KerasTuner's own 3 per dimension would leave a short search all random), then a Gaussian
    process with upper-confidence-bound acquisition. ``hyperband``: brackets of successive
    halving from ``max_epochs`` down (factor 3), capped at ``trials``. ``random``.
    """
    common = dict(objective=keras_tuner.Objective(*objective), hyperparameters=hyperparameters,
                  seed=seed + 1)  # KerasTuner takes seed 0 as "draw one"
    if tuner == "bayesian":
        return keras_tuner.oracles.BayesianOptimizationOracle(
            max_trials=trials, num_initial_points=initial_points or max(2, trials // 2), **common)
    if tuner == "hyperband":
        return keras_tuner.oracles.HyperbandOracle(max_epochs=max_epochs, factor=3, **common)
    if tuner == "random":
        return keras_tuner.oracles.RandomSearchOracle(max_trials=trials, **common)
    raise UserError(f"unknown tuner {tuner!r}; expected one of bayesian, hyperband, random")


def tune(task, config, space: dict, objective: tuple[str, str], run_dir=None, *, trials: int,
         tuner: str = "bayesian", initial_points: int = 0, final_cv: bool = False,
         restart: bool = False, tracking: bool = True, verbose="auto") -> dict:
    """Search ``space`` around ``config`` for the best ``objective``, one runner run per trial.

    Args:
        task: a :class:`kerasseq.tasks.base.Task`.
        config: the settings every trial starts from (the task's ``SEARCH_SETTINGS`` and the
            command's fixed overrides applied); ``epochs`` is Hyperband's ``max_epochs``.
        space: ``{setting: spec}`` to search (:func:`kerasseq.search_space.searched_space`).
        objective: ``(final metric, "min" | "max")``.
        run_dir: the search's folder (default ``runs/<task>_tune``).
        trials: the number of trials, finished ones of an earlier run included.
        tuner: ``bayesian``, ``hyperband`` or ``random``.
        initial_points: ``bayesian``: random trials before the Gaussian process (0: default).
        final_cv: then run the chosen settings on the task's full protocol (MR's 10 folds),
            as an MLflow child of the search's run.
        restart: delete an earlier search in ``run_dir`` first.
        tracking: log to MLflow: a parent run, one nested run per trial.
        verbose: Keras progress output of the trials.

    Returns:
        ``{"objective", "direction", "best": {"trial", "score", "values", "run_dir"},
        "command", "trials": [...]}``, also in ``RUN_DIR/tune_results.json``; with
        ``final_cv``, also ``"final_cv"``: the cross-validation's summary.
    """
    if trials < 1:
        raise UserError(f"--trials must be >= 1; got {trials}")
    if task.folds(config):
        raise UserError(f"a search trains one run per trial; {task.name}'s settings ask for a "
                        "cross-validation (--fold -1): pass one fold (--fold K), and --final_cv to "
                        "cross-validate the chosen settings")
    if final_cv and protocol_config(config) == config:
        raise UserError(f"--final_cv: {task.name}'s trials already train on its full protocol; "
                        "train the chosen settings with the command the search prints")
    run_dir = Path(run_dir) if run_dir else default_tune_dir(task.name)
    if restart:
        _clear(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / STATE_FILE
    settings = _settings(config, space, objective, tuner, initial_points)
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if state and state["settings"] != settings:
        raise CheckpointError(f"{run_dir} holds a search with other settings "
                              f"({_differences(state['settings'], settings)}); use another "
                              "--run_dir, or --restart to overwrite it")
    parent = Tracker(enabled=tracking).start(task.name, f"{run_dir.name}-tune", state.get("mlflow_run_id"))
    state_path.write_text(json.dumps({"mlflow_run_id": parent.run_id, "settings": settings}, indent=1))
    status = "FAILED"
    try:
        parent.log_params({**config.to_dict(), **{name: "searched" for name in space}})
        parent.set_tags({"kerasseq.task": task.name, "kerasseq.run_dir": str(run_dir),
                         "kerasseq.tune": f"{tuner}, {trials} trials, {objective[0]} ({objective[1]})"})
        parent.log_text(json.dumps(space, indent=1), "search_space.json")
        oracle = make_oracle(tuner, objective, declare(space, config), trials, config.seed,
                             config.epochs, initial_points)
        searcher = TaskTuner(oracle, task, config, run_dir, parent, verbose)
        # Not part of the oracle's saved state: a rerun may ask for more trials. Hyperband
        # has no limit of its own.
        searcher.oracle.max_trials = trials
        print(_plan(task, config, space, objective, searcher.oracle, run_dir))
        _search(searcher)
        result, best = _report(task, config, searcher.oracle, objective, run_dir, parent)
        if final_cv:
            from kerasseq.crossval import cross_validate

            summary = cross_validate(task, protocol_config(best), run_dir / "final_cv",
                                     tracking=tracking, verbose=verbose, nested=True)
            parent.log_metrics({f"final_cv_{stat}_{name}": values[stat]
                                for name, values in summary.items() for stat in ("mean", "std")})
            result["final_cv"] = summary
        status = "FINISHED"
        return result
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        parent.end(status)


def _search(searcher: TaskTuner) -> None:
    try:
        searcher.search()
    except _StopSearch as stop:
        raise stop.__cause__ from None
    except RuntimeError as error:
        if "consecutive failures" not in str(error):
            raise
        raise TrainingError(f"{searcher.oracle.max_consecutive_failed_trials} trials in a row "
                            f"failed; the last: {error}") from None


def _report(task, config, oracle, objective, run_dir: Path, parent: Tracker) -> tuple[dict, object]:
    """Write, print and log the trials table, the plot and the best trial; return the
    results and the best trial's settings."""
    from kerasseq.plotting import plot_trials

    name, direction = objective
    rows = []
    for trial_id, trial in sorted(oracle.trials.items(), key=lambda item: int(item[0])):
        done = trial_dir(run_dir, trial_id) / METRICS_FILE
        metrics = json.loads(done.read_text()) if done.exists() else {}
        values = {k: v for k, v in active_values(trial.hyperparameters).items()
                  if not k.startswith("tuner/")}
        rows.append({"trial": int(trial_id), "status": trial.status,
                     name: trial.score if trial.status == "COMPLETED" else None, **values,
                     **{f"final_{k}": v for k, v in metrics.items() if k != name},
                     "run_dir": str(trial_dir(run_dir, trial_id))})
    finished = [row for row in rows if row[name] is not None]
    if not finished:
        raise TrainingError(f"no trial of {run_dir} finished; see the errors above")
    best_trial = oracle.get_best_trials(1)[0]
    best_values = {k: v for k, v in active_values(best_trial.hyperparameters).items()
                   if not k.startswith("tuner/")}
    # Hyperband's tuner/epochs is a trial's budget, not a setting: the chosen configuration
    # trains for the search's --epochs.
    best_config = trial_config(config, best_values)
    protocol = protocol_config(best_config)
    target = run_dir / ("final_cv" if protocol != best_config else "best")
    result = {"objective": name, "direction": direction,
              "best": {"trial": int(best_trial.trial_id), "score": best_trial.score,
                       "values": best_values, "run_dir": str(trial_dir(run_dir, best_trial.trial_id))},
              "command": train_command(task.name, protocol, target), "trials": rows}
    (run_dir / RESULTS_FILE).write_text(json.dumps(result, indent=1))
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(run_dir / TABLE_FILE, "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    group = "model" if any("model" in row for row in finished) else None
    plot_trials(finished, name, direction, run_dir / PLOT_FILE,
                title=f"{task.name}: {len(finished)} trials", group=group)
    for path in (RESULTS_FILE, TABLE_FILE, PLOT_FILE):
        parent.log_artifact(run_dir / path)
    parent.set_tags({"kerasseq.best_trial": result["best"]["trial"],
                     **{f"best.{k}": v for k, v in best_values.items()}})
    parent.log_metrics({f"best_{name}": best_trial.score})
    searched = [k for k in dict.fromkeys(k for row in rows for k in row)
                if k not in ("trial", "status", "run_dir", name) and not k.startswith("final_")]
    print(_format_table(rows, ["trial", "status", name, *searched, "final_epochs"]))
    settings = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in best_values.items())
    print(f"Best: trial {result['best']['trial']}, {name} {best_trial.score:.4f} "
          f"({result['best']['run_dir']}): {settings}")
    if target.name == "final_cv":
        back = ", ".join(f"--{k} {getattr(protocol, k)}" for k in config.SEARCH_SETTINGS)
        print(f"The chosen configuration on {task.name}'s full protocol ({back}):\n  {result['command']}")
    else:
        print(f"The chosen configuration:\n  {result['command']}")
    return result, best_config


def _format_table(rows: list[dict], names: list[str]) -> str:
    widths = [max(len(n), 9) for n in names]

    def cell(value, width):
        if value is None:
            return "-".rjust(width)
        return (f"{value:.4g}" if isinstance(value, float) else str(value)).rjust(width)

    lines = ["  ".join(n.rjust(w) for n, w in zip(names, widths))]
    lines += ["  ".join(cell(row.get(n), w) for n, w in zip(names, widths)) for row in rows]
    return "\n".join(lines)


def _plan(task, config, space, objective, oracle, run_dir) -> str:
    if isinstance(oracle, keras_tuner.oracles.BayesianOptimizationOracle):
        how = f"bayesian: {oracle.num_initial_points} random trials, then a Gaussian process"
    elif isinstance(oracle, keras_tuner.oracles.HyperbandOracle):
        how = f"hyperband: successive halving from {config.epochs} epochs"
    else:
        how = "random"
    lines = [f"Tuning {task.name} in {run_dir} ({how}), {oracle.max_trials} trials, "
             f"{objective[1]}imising {objective[0]}:"]
    lines += [f"  {name:16s} {describe(spec)}" for name, spec in space.items()]
    return "\n".join(lines)


def _settings(config, space, objective, tuner, initial_points) -> dict:
    # What a resumed search must share with the first run (JSON-normalised, as saved).
    fixed = {k: v for k, v in config.to_dict().items() if k not in RESUMABLE_CHANGES - {"epochs"}}
    return json.loads(json.dumps({"tuner": tuner, "objective": list(objective), "space": space,
                                  "initial_points": initial_points, "config": fixed}))


def _differences(saved: dict, wanted: dict) -> str:
    items = []
    for key in wanted:
        if key == "config":
            items += [f"{k}: {saved['config'].get(k)!r} in the search, {v!r} now"
                      for k, v in wanted["config"].items() if saved["config"].get(k) != v]
        elif saved.get(key) != wanted[key]:
            items.append(f"{key}: {saved.get(key)!r} in the search, {wanted[key]!r} now")
    return "; ".join(items)


def _clear(run_dir: Path) -> None:
    """Remove what a search wrote in ``run_dir`` (nothing else)."""
    for path in [run_dir / ORACLE_DIR, run_dir / "final_cv", run_dir / "best",
                 *run_dir.glob("trial_[0-9][0-9][0-9]")]:
        if path.is_dir():
            shutil.rmtree(path)
    for name in (STATE_FILE, RESULTS_FILE, TABLE_FILE, PLOT_FILE):
        (run_dir / name).unlink(missing_ok=True)
