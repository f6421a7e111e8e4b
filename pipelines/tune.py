"""MLflow entry point: `python pipelines/tune.py TASK --trials N ... --settings "--param value ..."`
(see MLproject's `tune`).

The same code as `kerasseq tune`. MLflow entry points have a fixed parameter list, so the
task's own fixed settings travel in one string, ``--settings``, split as a shell would; empty
strings and ``false`` stand for an option left out (MLflow cannot omit a parameter).
"""

import argparse
import shlex
import sys

from kerasseq.cli import main


def tune_argv(argv: list[str]) -> list[str]:
    """The ``kerasseq tune`` arguments of this entry point's arguments."""
    parser = argparse.ArgumentParser(prog="pipelines/tune.py")
    parser.add_argument("task")
    parser.add_argument("--trials", required=True)
    parser.add_argument("--tuner", default="bayesian")
    parser.add_argument("--objective", default="")
    parser.add_argument("--initial_points", default="0")
    parser.add_argument("--final_cv", default="false", choices=("true", "false", "True", "False"))
    parser.add_argument("--run_dir", default="")
    parser.add_argument("--settings", default="")
    args = parser.parse_args(argv)
    out = ["tune", args.task, "--trials", args.trials, "--tuner", args.tuner,
           "--initial_points", args.initial_points]
    if args.objective:
        out += ["--objective", args.objective]
    if args.final_cv.lower() == "true":
        out.append("--final_cv")
    if args.run_dir:
        out += ["--run_dir", args.run_dir]
    return out + shlex.split(args.settings)


if __name__ == "__main__":
    sys.exit(main(tune_argv(sys.argv[1:])))
