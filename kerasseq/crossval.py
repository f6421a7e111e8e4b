"""k-fold cross-validation over the shared runner (the protocol of datasets without a split).

Each fold is an ordinary run (``RUN_DIR/fold_00`` ...) trained with the task's settings and
``fold=k``: it checkpoints, resumes and is tracked like any run, as a child of one MLflow
parent run that receives the mean and standard deviation of every final metric. A fold that
finished is not trained again, so an interrupted cross-validation resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

SUMMARY_FILE = "cv_results.json"


def fold_dir(run_dir: Path, fold: int) -> Path:
    return Path(run_dir) / f"fold_{fold:02d}"


def cross_validate(task, config, run_dir=None, *, restart: bool = False, tracking: bool = True,
                   verbose="auto", export_fold: int = 0) -> dict:
    """Train ``task`` on every fold of ``config.folds`` and summarise the final metrics.

    Args:
        task: a task whose settings have ``folds`` and ``fold`` fields.
        config: the settings; its ``fold`` is replaced by each fold number in turn.
        run_dir: parent folder (default ``runs/<task>``).
        restart: retrain every fold from scratch.
        tracking: log to MLflow (a parent run with one nested run per fold).
        verbose: Keras progress output.
        export_fold: the fold whose model is exported (``-1``: none).

    Returns:
        ``{metric: {"mean", "std", "folds": [...]}}`` over the folds; also written to
        ``RUN_DIR/cv_results.json`` and printed as a table.
    """
    from kerasseq.training import METRICS_FILE, Tracker, default_run_dir, train

    run_dir = Path(run_dir) if run_dir else default_run_dir(task.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / "cv_state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() and not restart else {}
    parent = Tracker(enabled=tracking).start(task.name, f"{run_dir.name}-cv", state.get("mlflow_run_id"))
    state_path.write_text(json.dumps({"mlflow_run_id": parent.run_id, "folds": config.folds}))
    status = "FAILED"
    try:
        parent.log_params({**config.to_dict(), "fold": "all"})
        parent.set_tags({"kerasseq.task": task.name, "kerasseq.run_dir": str(run_dir),
                         "kerasseq.cross_validation": f"{config.folds} folds"})
        per_fold = []
        for k in range(config.folds):
            folder = fold_dir(run_dir, k)
            done = folder / METRICS_FILE
            if done.exists() and not restart:
                print(f"fold {k + 1}/{config.folds}: finished earlier ({done})")
                per_fold.append(json.loads(done.read_text()))
                continue
            print(f"fold {k + 1}/{config.folds}: training in {folder}")
            per_fold.append(train(task, dataclasses.replace(config, fold=k), folder,
                                  restart=restart, tracking=tracking, verbose=verbose,
                                  export=(k == export_fold), nested=True))
        summary = summarize(per_fold)
        (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=1))
        parent.log_metrics({f"cv_{stat}_{name}": values[stat]
                            for name, values in summary.items() for stat in ("mean", "std")})
        parent.log_artifact(run_dir / SUMMARY_FILE)
        print(format_summary(summary, config.folds))
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
