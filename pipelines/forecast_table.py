"""One forecasting table from several grids (or single runs): every model and baseline per
dataset × horizon, next to the published figures.

    python pipelines/forecast_table.py runs/forecast_dlinear runs/forecast_patchtst \
        --out runs/forecast_table.md
"""

import argparse
import sys
from pathlib import Path

from kerasseq.errors import UserError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="a grid folder (RUN_DIR/<dataset>_<model>_<horizon>) "
                        "or one run's folder")
    parser.add_argument("--out", default="runs/forecast_table.md", help="the Markdown file to write")
    args = parser.parse_args(argv)
    from kerasseq.tasks.forecast_table import forecast_table, read_runs

    runs = []
    for folder in args.runs:
        found = read_runs(folder) or (read_runs(Path(folder).parent, [Path(folder).name]))
        if not found:
            raise UserError(f"{folder}: no finished forecasting run (forecast_scores.json and "
                            "metrics.json) in it or in its subfolders")
        runs += found
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(forecast_table(runs))
    print(out.read_text())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
