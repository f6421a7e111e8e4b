"""Cross-validation over the shared runner: k-fold (datasets without a split) or the folds a
task defines (leave-one-scene-out).

Each fold is an ordinary run (``RUN_DIR/fold_00`` ..., or the names of
:meth:`~kerasseq.tasks.base.Task.folds`) trained with the task's settings and the fold's
overrides (``fold=k``, ``test_scene="eth"``): it checkpoints, resumes and is tracked like any
run, as a child of one MLflow parent run that receives the mean and standard deviation of
every final metric. A fold that finished is not trained again, so an interrupted
cross-validation resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from kerasseq.errors import UserError

SUMMARY_FILE = "cv_results.json"


def fold_dir(run_dir: Path, fold) -> Path:
    """The folder of fold ``fold``: a number (``fold_00``) or a fold's name."""
    return Path(run_dir) / (f"fold_{fold:02d}" if isinstance(fold, int) else str(fold))


def cross_validate(task, config, run_dir=None, *, restart: bool = False, tracking: bool = True,
                   verbose="auto", export_fold: int = 0, nested: bool = False) -> dict:
    """Train ``task`` on every fold of ``task.folds(config)`` and summarise the final metrics.

    Args:
        task: a task whose :meth:`~kerasseq.tasks.base.Task.folds` lists folds for ``config``.
        config: the settings; each fold's overrides replace its fields in turn.
        run_dir: parent folder (default ``runs/<task>``).
        restart: retrain every fold from scratch.
        tracking: log to MLflow (a parent run with one nested run per fold).
        verbose: Keras progress output.
        export_fold: the fold (index) whose model is exported (``-1``: none).
        nested: track the parent run as a child of the active MLflow run (``kerasseq tune
            --final_cv``: the chosen configuration's cross-validation under the search's run).

    Returns:
        ``{metric: {"mean", "std", "folds": [...]}}`` over the folds; also written to
        ``RUN_DIR/cv_results.json`` and printed as a table (the task's
        :meth:`~kerasseq.tasks.base.Task.summarize_folds` may write its own too).
    """
    from kerasseq.distribute import resolve
    from kerasseq.training import METRICS_FILE, Tracker, default_run_dir, train

    if resolve(config).num_processes > 1:
        raise UserError(f"a job of several processes trains one run, not {len(task.folds(config))} "
                        "(cross-validation folds or a grid); train them one at a time (one --fold, "
                        "one value per grid setting)")
    run_dir = Path(run_dir) if run_dir else default_run_dir(task.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / "cv_state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() and not restart else {}
    parent = Tracker(enabled=tracking).start(task.name, f"{run_dir.name}-cv", state.get("mlflow_run_id"),
                                             nested=nested)
    folds = task.folds(config)
    state_path.write_text(json.dumps({"mlflow_run_id": parent.run_id, "folds": len(folds)}))
    status = "FAILED"
    try:
        parent.log_params({**config.to_dict(), **{key: "all" for key in folds[0][1]}})
        parent.set_tags({"kerasseq.task": task.name, "kerasseq.run_dir": str(run_dir),
                         "kerasseq.cross_validation": f"{len(folds)} folds"})
        per_fold = []
        for k, (name, overrides) in enumerate(folds):
            folder = fold_dir(run_dir, name)
            done = folder / METRICS_FILE
            if done.exists() and not restart:
                print(f"fold {k + 1}/{len(folds)}: finished earlier ({done})")
                per_fold.append(json.loads(done.read_text()))
                continue
            print(f"fold {k + 1}/{len(folds)}: training in {folder}")
            per_fold.append(train(task, dataclasses.replace(config, **overrides), folder,
                                  restart=restart, tracking=tracking, verbose=verbose,
                                  export=(k == export_fold), nested=True))
        summary = summarize(per_fold)
        (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=1))
        parent.log_metrics({f"cv_{stat}_{name}": values[stat]
                            for name, values in summary.items() for stat in ("mean", "std")})
        parent.log_artifact(run_dir / SUMMARY_FILE)
        for path in task.summarize_folds(config, run_dir, [name for name, _ in folds], per_fold):
            parent.log_artifact(path)
        print(format_summary(summary, len(folds)))
        status = "FINISHED"
        return summary
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        parent.end(status)


def summarize(per_fold: list[dict]) -> dict:
    """Mean and (population) standard deviation of each numeric metric over the folds."""
    names = [k for k, v in per_fold[0].items() if isinstance(v, (int, float))]
    summary = {}
    for name in names:
        values = np.asarray([fold[name] for fold in per_fold], np.float64)
        summary[name] = {"mean": float(values.mean()), "std": float(values.std()),
                         "folds": values.tolist()}
    return summary


def format_summary(summary: dict, folds: int) -> str:
    lines = [f"{folds}-fold cross-validation:"]
    for name, values in summary.items():
        lines.append(f"  {name:24s} {values['mean']:.4f} ± {values['std']:.4f}")
    return "\n".join(lines)
