"""The ETH/UCY table of several `--test_scene all` runs side by side, with the baselines once,
and per-scene ADE/FDE bars for every method.

    python pipelines/trajectory_table.py social_lstm=runs/traj_social vanilla_lstm=runs/traj_vanilla \
        occupancy_lstm=runs/traj_occupancy --out runs/trajectory_table
"""

import argparse
import sys
from pathlib import Path

from kerasseq.errors import UserError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR of a --test_scene all run")
    parser.add_argument("--out", default="runs/trajectory_table", help="folder for the table and bars")
    args = parser.parse_args(argv)
    from kerasseq.diagnostics.trajectory_plots import plot_scene_errors
    from kerasseq.tasks.trajectories import read_folds, trajectory_table

    runs = {}
    for item in args.runs:
        label, _, folder = item.partition("=")
        folds = read_folds(folder) if folder else {}
        if not folds:
            raise UserError(f"{item!r}: expected LABEL=RUN_DIR of a finished --test_scene all run "
                            f"(RUN_DIR/<scene>/metrics.json)")
        runs[label] = folds
    scenes = [list(f) for f in runs.values()]
    if any(s != scenes[0] for s in scenes):
        raise UserError(f"the runs cover different scenes: {dict(zip(runs, scenes))}")
    table = trajectory_table(runs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "trajectory_table.md").write_text(table["markdown"])
    for group in ("deterministic", "best"):
        plot_scene_errors(table[group], out / f"trajectory_errors_{group}.png",
                          f"ADE/FDE per held-out scene ({group})")
    print(table["markdown"])
    print(f"Wrote {out / 'trajectory_table.md'} and the bars in {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
