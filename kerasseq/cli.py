"""The ``kerasseq`` command line: train, evaluate, export and sample any registered task.

    kerasseq train charlm --epochs 2 --units 256      # resumes if runs/charlm has a checkpoint
    kerasseq evaluate charlm
    kerasseq export charlm --out exported/
    kerasseq export charlm --register shakespeare     # + a registered MLflow model version
    kerasseq sample charlm --prompt "ROMEO:" --length 300 --temperature 0.8 --top_k 10
    kerasseq sample translation --prompt "A dog runs on the beach."   # English -> German
    kerasseq sample handwriting --text "hello" --bias 1.0 --length 700 --out line.svg
    kerasseq train charlm --help                      # every parameter with its default
    kerasseq gradients --out runs/gradients           # ‖∂L/∂h_t‖ for rnn, leaky, lstm, gru
    kerasseq tune mr --trials 8 --final_cv            # KerasTuner search, then 10-fold CV

User mistakes (unknown parameters, bad values, missing data, corrupt checkpoints) print one
``error:`` line and exit with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from kerasseq.errors import UserError

COMMANDS = {
    "train": "train a task (resumes from the run directory's last checkpoint)",
    "evaluate": "evaluate a trained run on its validation data",
    "export": "write a trained run's .keras model and TensorFlow SavedModel",
    "sample": "generate from a trained run (text from charlm, translations from translation, "
              "captions of image files from captioning)",
    "plot": "redraw a run's loss curve from its checkpoint history",
    "tune": "search the task's hyperparameters with KerasTuner, one tracked run per trial "
            "(resumes an interrupted search)",
    "tasks": "list the tasks",
    "gradients": "vanishing gradients: ‖∂L/∂h_t‖ over time for several cells (no task)",
}


def _top_parser():
    from kerasseq.tasks import REGISTRY

    tasks = "\n".join(f"  {name:10s} {entry.description}" for name, entry in sorted(REGISTRY.items()))
    commands = "\n".join(f"  {name:10s} {text}" for name, text in COMMANDS.items())
    return argparse.ArgumentParser(
        prog="kerasseq",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"commands:\n{commands}\n\ntasks:\n{tasks}\n\n"
                    "Run 'kerasseq COMMAND TASK --help' for the parameters of a task.",
        usage="kerasseq {train,tune,evaluate,export,sample,plot,tasks} TASK [--param value ...]\n"
              "       kerasseq gradients [--out DIR] [--cells rnn,leaky,lstm,gru] ...",
    )


def _command_parser(command: str, name: str):
    from kerasseq.config import _StrictParser, add_config_arguments
    from kerasseq.tasks import REGISTRY, get_config_class

    config_class = get_config_class(name)
    parser = _StrictParser(
        config_class if command in ("train", "tune") else None,
        prog=f"kerasseq {command} {name}",
        description=f"{COMMANDS[command]}: {REGISTRY[name].description}",
        allow_abbrev=False,
    )
    parser.add_argument("--run_dir", "--run-dir", default=None,
                        help=f"run folder (default: runs/{name}{'_tune' if command == 'tune' else ''})")
    if command == "tune":
        _add_tune_arguments(parser, name, config_class)
    if command in ("train", "tune"):
        add_config_arguments(parser, config_class)
        parser.add_argument("--jit", dest="jit_compile", action="store_const", const="true",
                            default=argparse.SUPPRESS, help="the same as --jit_compile true")
        parser.add_argument("--no_jit", "--no-jit", dest="jit_compile", action="store_const",
                            const="false", default=argparse.SUPPRESS,
                            help="the same as --jit_compile false")
        parser.add_argument("--restart", action="store_true",
                            help="start over even if the run folder has a checkpoint"
                            if command == "train" else "delete an earlier search in the run folder")
        parser.add_argument("--no_tracking", "--no-tracking", action="store_true",
                            help="do not log to MLflow")
    elif command == "evaluate":
        parser.add_argument("--no_tracking", "--no-tracking", action="store_true",
                            help="do not log the metrics to the run's MLflow run")
        parser.add_argument("--ensemble", default="", metavar="RUN_DIR,RUN_DIR...",
                            help="more run folders of the task: score the average of their and "
                                 "--run_dir's predictions on the test split (ner; printed, not logged to MLflow)")
    elif command == "export":
        parser.add_argument("--out", default=None, help="output folder (default: RUN_DIR/export)")
        parser.add_argument("--register", default=None, metavar="NAME",
                            help="also register the run's logged MLflow model as a new version of "
                                 "the registered model NAME (serve it from models:/NAME/VERSION)")
    elif command == "sample":
        parser.add_argument("--prompt", default="\n", help="text to continue (charlm; default: a "
                            "newline), English sentences to translate, one per line (translation), "
                            "or image paths to caption, one per line (captioning)")
        parser.add_argument("--length", type=int, default=500, help="characters to generate")
        parser.add_argument("--temperature", type=float, default=1.0, help="softmax temperature (> 0)")
        parser.add_argument("--top_k", "--top-k", type=int, default=0,
                            help="sample among the k most likely characters; 0 = all")
        parser.add_argument("--seed", type=int, default=None, help="random seed")
        parser.add_argument("--text", default=None, help="text to write (handwriting synthesis)")
        parser.add_argument("--bias", type=float, default=None,
                            help="sampling bias, >= 0 (handwriting; default 0)")
        parser.add_argument("--out", default=None,
                            help="write the sample to this file (handwriting: .svg or .png)")
    return parser


def _add_tune_arguments(parser, name: str, config_class) -> None:
    from kerasseq.search_space import TUNERS, describe

    space = getattr(config_class, "SEARCH_SPACE", None) or {}
    objective = getattr(config_class, "SEARCH_OBJECTIVE", ("?", "?"))
    protocol = getattr(config_class, "SEARCH_SETTINGS", {})
    parser.description += ". (No search space is declared for this task.)" if not space else (
        ". Each trial trains with the task's defaults, the fixed --param values given here"
        + (f" and {', '.join(f'--{k} {v}' for k, v in protocol.items())}" if protocol else "")
        + ", and the searched settings: "
        + "; ".join(f"{k} {describe(spec)}" for k, spec in space.items())
        + f". Objective: {objective[0]} ({objective[1]}), a final metric on validation data. "
        "A parameter given on the command line is not searched. Run the same command again to "
        "continue an interrupted search.")
    group = parser.add_argument_group("search")
    group.add_argument("--trials", type=int, default=10,
                       help="trials in all, finished ones of an earlier run included (default: 10)")
    group.add_argument("--tuner", default="bayesian", choices=TUNERS,
                       help="bayesian: KerasTuner's Gaussian-process optimisation after "
                            "--initial_points random trials; hyperband: successive halving from "
                            "--epochs (each trial trains from scratch for its budget), at most "
                            "--trials; random (default: bayesian)")
    group.add_argument("--objective", default=None,
                       help=f"final metric to optimise, NAME[:min|max] (default: {objective[0]}, "
                            f"{objective[1]}; test metrics are refused)")
    group.add_argument("--initial_points", "--initial-points", type=int, default=0,
                       help="bayesian: random trials before the Gaussian process takes over "
                            "(default: half of --trials, at least 2)")
    defaults = {f.name: f.default for f in dataclasses.fields(config_class)}
    full = ", ".join(f"--{k} {defaults[k]}" for k in protocol)
    group.add_argument("--final_cv", "--final-cv", action="store_true",
                       help=f"then train the chosen settings on the full protocol ({full}) as a "
                            "child of the search's MLflow run" if protocol else
                            f"(not for {name}: its trials already train on the full protocol)")


def _gradients_parser():
    from kerasseq.config import _StrictParser

    parser = _StrictParser(None, prog="kerasseq gradients", allow_abbrev=False,
                           description="Train a one-layer character LM per cell on Tiny Shakespeare "
                                       "with the same budget and plot ‖∂L/∂h_t‖ against steps back "
                                       "from the loss, at initialisation and after training "
                                       "(OUT/gradient_flow.png and .json).")
    parser.add_argument("--out", default="runs/gradients", help="output folder (default: runs/gradients)")
    parser.add_argument("--cells", default="rnn,leaky,lstm,gru",
                        help="comma-separated cells (default: rnn,leaky,lstm,gru)")
    parser.add_argument("--steps", type=int, default=1000, help="training batches per cell; beyond one pass over the text "
                             "(313 batches at the defaults) rounded up to whole passes")
    parser.add_argument("--units", type=int, default=128, help="recurrent width")
    parser.add_argument("--seq_len", "--seq-len", type=int, default=100,
                        help="steps per training chunk and per measured window")
    parser.add_argument("--batch_size", "--batch-size", type=int, default=32, help="rows per batch")
    parser.add_argument("--learning_rate", "--learning-rate", type=float, default=3e-3,
                        help="Adam learning rate")
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed")
    parser.add_argument("--data_dir", "--data-dir", default=None,
                        help="data folder (default: $KERASSEQ_DATA_DIR)")
    parser.add_argument("--restart", action="store_true", help="retrain runs that exist in OUT")
    parser.add_argument("--no_tracking", "--no-tracking", action="store_true",
                        help="do not log to MLflow")
    return parser


def _gradients(argv: list[str]) -> int:
    from kerasseq.data.files import resolve_data_dir
    from kerasseq.tasks.configs import RECURRENT_CELLS as CELL_NAMES  # without importing Keras

    args = _gradients_parser().parse_args(argv)
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    unknown = [c for c in cells if c not in CELL_NAMES]
    if not cells or unknown:
        raise UserError(f"--cells: unknown cell(s) {unknown or args.cells!r}; "
                        f"expected a comma-separated list of {', '.join(CELL_NAMES)}")
    for name in ("steps", "units", "seq_len", "batch_size"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} must be >= 1, got {getattr(args, name)}")
    resolve_data_dir(args.data_dir)
    from kerasseq.diagnostics import gradient_flow_experiment

    tracker = None
    if not args.no_tracking:
        from kerasseq.tracking import Tracker

        tracker = Tracker().start("gradients", Path(args.out).name)
        tracker.log_params({k: v for k, v in vars(args).items() if k not in ("restart", "no_tracking")})
    result = gradient_flow_experiment(
        args.out, cells, steps=args.steps, units=args.units, seq_len=args.seq_len,
        batch_size=args.batch_size, learning_rate=args.learning_rate, data_dir=args.data_dir,
        seed=args.seed, tracking=tracker is not None, restart=args.restart)
    for stage in ("at_initialisation", "after_training"):
        for cell, ratio in result["far_to_near"][stage].items():
            print(f"{stage:17s} {cell:6s} ‖∂L/∂h‖ {args.seq_len - 1} steps back / at the loss: {ratio:.3g}")
    if tracker is not None:
        tracker.log_metrics({f"far_to_near_{cell}": ratio
                             for cell, ratio in result["far_to_near"]["after_training"].items()})
        for name in ("gradient_flow.png", "gradient_flow.json"):
            tracker.log_artifact(Path(args.out) / name)
        tracker.end()
    return 0


def _tune(name: str, args: dict) -> int:
    from kerasseq.data.files import resolve_data_dir
    from kerasseq.search_space import has_search_space, parse_objective, searched_space
    from kerasseq.tasks import get_config_class, task_names

    config_class = get_config_class(name)
    if not has_search_space(config_class):
        having = [t for t in task_names() if has_search_space(get_config_class(t))]
        raise UserError(f"{name} declares no search space (SEARCH_SPACE of {config_class.__name__} "
                        f"in kerasseq/tasks/configs.py); tasks with one: {', '.join(having)}")
    if args["trials"] < 1:
        raise UserError(f"--trials must be >= 1; got {args['trials']}")
    if args["initial_points"] < 0:
        raise UserError(f"--initial_points must be >= 0; got {args['initial_points']}")
    if args["final_cv"] and not getattr(config_class, "SEARCH_SETTINGS", None):
        raise UserError(f"--final_cv: {name}'s trials already train on its full protocol; train the "
                        "chosen settings with the command the search prints")
    # Checked before importing Keras: the settings, the space and the objective.
    fixed = {f.name: args[f.name] for f in dataclasses.fields(config_class) if f.name in args}
    config = config_class(**{**getattr(config_class, "SEARCH_SETTINGS", {}), **fixed})
    space = searched_space(config, fixed)
    objective = parse_objective(config_class, args["objective"])
    resolve_data_dir(config.data_dir)
    from kerasseq.tasks import get_task
    from kerasseq.tune import tune

    tune(get_task(name), config, space, objective, args["run_dir"], trials=args["trials"],
         tuner=args["tuner"], initial_points=args["initial_points"], final_cv=args["final_cv"],
         restart=args["restart"], tracking=not args["no_tracking"])
    return 0


def run_command(argv: list[str]) -> int:
    top = _top_parser()
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        raise UserError(f"unknown command {command!r}; expected one of {', '.join(COMMANDS)}")
    from kerasseq.tasks import get_config_class, get_task, task_names

    if command == "tasks":
        top.print_help()
        return 0
    if command == "gradients":
        return _gradients(rest)
    if not rest or rest[0].startswith("-"):
        if rest and rest[0] in ("-h", "--help"):
            top.print_help()
            return 0
        raise UserError(f"'kerasseq {command}' needs a task: one of {', '.join(task_names())}")
    name = rest[0]
    args = vars(_command_parser(command, name).parse_args(rest[1:]))

    if command == "tune":
        return _tune(name, args)

    # Check what can be checked before importing Keras and TensorFlow (seconds), so that
    # mistakes are answered at once.
    from kerasseq.checkpoint import Checkpoint
    from kerasseq.data.files import resolve_data_dir

    run_dir = args["run_dir"] or f"runs/{name}"
    if command == "train":
        from kerasseq.config import config_from_args

        config = config_from_args(get_config_class(name), args)
        resolve_data_dir(config.data_dir)
    elif not Checkpoint(run_dir).exists():
        if (Path(run_dir) / "cv_state.json").exists():
            raise UserError(f"{run_dir} holds a cross-validation; pass the run folder of one fold, "
                            f"e.g. --run_dir {Path(run_dir) / 'fold_00'}")
        raise UserError(f"no trained run in {run_dir} (no {Checkpoint(run_dir).state_path}); "
                        f"train one with: kerasseq train {name} --run_dir {run_dir}")
    elif (command == "export" and args["register"]
          and not Checkpoint(run_dir).load_state().get("mlflow_run_id")):
        raise UserError(f"{run_dir} was trained with --no_tracking: it has no MLflow run whose "
                        "model --register could register")

    if command == "evaluate" and args["ensemble"]:
        ensemble = [run_dir] + [d.strip() for d in args["ensemble"].split(",") if d.strip()]
        for d in ensemble[1:]:
            if not Checkpoint(d).exists():
                raise UserError(f"--ensemble: no trained run in {d} (no {Checkpoint(d).state_path})")
        resolved = [Path(d).resolve() for d in ensemble]
        if len(set(resolved)) < len(resolved) or len(ensemble) < 2:
            raise UserError(f"--ensemble needs other run folders than --run_dir {run_dir}, each "
                            f"once; got {args['ensemble']!r}")

    if command == "plot":  # needs only the saved history: no Keras
        from kerasseq.plotting import plot_history

        state = Checkpoint(run_dir).load_state()
        path = plot_history(state["history"], Path(run_dir) / "artifacts" / "loss_curve.png",
                            title=name, steps=state.get("batch_losses"))
        print(f"Wrote {path}")
        return 0

    task = get_task(name)
    from kerasseq import training

    if command == "train" and task.folds(config):
        from kerasseq.crossval import cross_validate

        cross_validate(task, config, args["run_dir"], restart=args["restart"],
                       tracking=not args["no_tracking"])
    elif command == "train":
        training.train(task, config, args["run_dir"], restart=args["restart"],
                       tracking=not args["no_tracking"])
    elif command == "evaluate" and args["ensemble"]:
        members = [training.load_run(task, d) for d in ensemble]
        metrics = task.evaluate_ensemble(members)
        print(f"ensemble of {len(members)} runs: {', '.join(ensemble)}")
        for key, value in metrics.items():
            print(f"ensemble_{key}: {value:.4f}")
    elif command == "evaluate":
        run, model = training.load_run(task, args["run_dir"])
        if not args["no_tracking"]:
            run.tracker = training.Tracker().start(task.name, run.dir.name, run.state.get("mlflow_run_id"))
        _, val_ds = task.datasets(run)
        metrics = task.evaluate(run, model, val_ds)
        run.tracker.log_metrics({f"eval_{k}": v for k, v in metrics.items()})
        run.tracker.end()
        for key, value in metrics.items():
            print(f"{key}: {value:.4f}")
    elif command == "export":
        from kerasseq.export import export_task_model

        run, model = training.load_run(task, args["run_dir"])
        exported = export_task_model(task, run, model, args["out"])
        if args["register"]:
            from kerasseq.tracking import register_run_model

            register_run_model(run.state.get("mlflow_run_id"), args["register"],
                               task.pyfunc_endpoint(run), exported.get("saved_model"))
    elif command == "sample":
        run, model = training.load_run(task, args["run_dir"])
        extra = {k: args[k] for k in ("text", "bias", "out") if args[k] is not None}
        print(task.sample(run, model, prompt=args["prompt"].replace("\\n", "\n"), length=args["length"],
                          temperature=args["temperature"], top_k=args["top_k"], seed=args["seed"],
                          **extra))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out
    try:
        return run_command(argv)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: the run folder keeps the last finished epoch; run the same "
              "command again to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        from kerasseq.training import LostProcessError, TrainingError

        if isinstance(exc, TrainingError):
            print(f"error: {exc}", file=sys.stderr)
            if isinstance(exc, LostProcessError):
                # Exit now: JAX's distributed runtime would abort this process once the lost
                # one's heartbeat times out, a minute or more later.
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(1)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
