"""Task settings as frozen dataclasses, and their ``--key value`` command-line overrides.

A task's settings are one frozen dataclass whose fields carry a default and a help text
(:func:`param`). :func:`parse_overrides` type-checks ``--key value`` pairs against it; an
unknown key or a value of the wrong type is a :class:`~kerasseq.errors.UserError` that lists
what was expected.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

from kerasseq.errors import UserError


def param(default, help: str, choices=None):
    """A settings field with its default, a help text and optionally the allowed values."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class RunConfig:
    """Settings every task shares: how long and how to train, and where the data is."""

    epochs: int = param(10, "passes over the training data")
    steps_per_epoch: int = param(0, "batches per epoch; 0 means one full pass over the data")
    learning_rate: float = param(2e-3, "Adam learning rate")
    lr_schedule: str = param(
        "cosine", "learning-rate schedule: constant, or cosine decay to 10% over all epochs",
        choices=("constant", "cosine"),
    )
    clipnorm: float = param(5.0, "clip gradients to this global norm; 0 disables clipping")
    jit_compile: str = param(
        "auto", "XLA compilation: auto (on where Keras finds it helps), true, false",
        choices=("auto", "true", "false"),
    )
    seed: int = param(0, "random seed for initialisation, dropout and sampling")
    precision: str = param(
        "float32", "float32, or mixed precision: bfloat16 or float16 compute with float32 "
        "variables, losses and metrics (float16 with loss scaling)",
        choices=("float32", "bfloat16", "float16"),
    )
    distribute: str = param(
        "none", "data: a model replica on every device (and process), each batch split between "
        "them; model: dense and attention kernels sharded over this process's devices; JAX backend",
        choices=("none", "data", "model"),
    )
    num_processes: int = param(
        0, "processes of a multi-process (multi-machine) job; 0 means $KERASSEQ_NUM_PROCESSES, else 1")
    process_id: int = param(-1, "this process's index in the job, 0 .. num_processes-1; -1 means "
                                "$KERASSEQ_PROCESS_ID, else 0")
    coordinator: str = param("", "host:port where process 0 listens; empty means "
                                 "$KERASSEQ_COORDINATOR")
    data_dir: str = param("", "dataset folder; empty means $KERASSEQ_DATA_DIR")
    download: bool = param(False, "download missing dataset files from their source")
    max_minutes: float = param(0.0, "training time limit of this process in minutes: stop at "
                               "the end of the first epoch after which another would pass it, "
                               "then evaluate as after early stopping; 0: no limit")
    ema: float = param(0.0, "keep an exponential moving average of the weights, updated every "
                       "step with this decay (e.g. 0.999; Polyak averaging): validation, early "
                       "stopping, checkpoints, the evaluation and the export use the averaged "
                       "weights, training goes on from the raw ones; 0: off")

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            choices = f.metadata.get("choices")
            if choices and value not in choices:
                raise UserError(f"--{f.name} must be one of {', '.join(map(str, choices))}; got {value!r}")
        # A task whose settings allow 0 here fills in its own recipe (Task.resolve_config).
        auto = getattr(self, "RECIPE_FIELDS", ())
        _check(self.epochs >= 1 or ("epochs" in auto and self.epochs == 0),
               "--epochs must be >= 1", self.epochs)
        _check(self.steps_per_epoch >= 0, "--steps_per_epoch must be >= 0", self.steps_per_epoch)
        _check(self.learning_rate > 0 or ("learning_rate" in auto and self.learning_rate == 0),
               "--learning_rate must be > 0", self.learning_rate)
        _check(self.clipnorm >= 0, "--clipnorm must be >= 0", self.clipnorm)
        _check(self.max_minutes >= 0, "--max_minutes must be >= 0 (0: no limit)", self.max_minutes)
        _check(0 <= self.ema < 1, "--ema must be in [0, 1) (0: off)", self.ema)
        _check(self.num_processes >= 0, "--num_processes must be >= 0", self.num_processes)
        _check(self.process_id >= -1, "--process_id must be >= 0 (-1: from the environment)",
               self.process_id)
        _check(not self.coordinator or self.coordinator.rpartition(":")[2].isdigit(),
               "--coordinator must be HOST:PORT", self.coordinator)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check(ok: bool, message: str, value) -> None:
    if not ok:
        raise UserError(f"{message}; got {value!r}")


def _parse_bool(text: str) -> bool:
    lowered = str(text).lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


_PARSERS = {int: int, float: float, str: str, bool: _parse_bool}
_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def field_type(f: dataclasses.Field):
    # Annotations are strings under `from __future__ import annotations`.
    names = {"int": int, "float": float, "str": str, "bool": bool}
    return names.get(f.type, f.type) if isinstance(f.type, str) else f.type


def add_config_arguments(parser: argparse.ArgumentParser, config_class) -> None:
    """Add one ``--name`` option per field, with its type, default and help."""
    group = parser.add_argument_group(f"{config_class.__name__} parameters")
    for f in dataclasses.fields(config_class):
        kind = field_type(f)
        choices = f.metadata.get("choices")
        extra = f"; one of {', '.join(map(str, choices))}" if choices else ""
        flags = [f"--{f.name}"] + ([f"--{f.name.replace('_', '-')}"] if "_" in f.name else [])
        group.add_argument(
            *flags,
            dest=f.name,
            type=_PARSERS[kind],
            default=argparse.SUPPRESS,
            metavar=kind.__name__.upper(),
            help=f"{f.metadata.get('help', '')}{extra} (default: {f.default!r})".replace("%", "%%"),
        )


def config_from_args(config_class, values: dict):
    """Build the config from parsed ``--name`` values (missing ones keep their default)."""
    names = {f.name for f in dataclasses.fields(config_class)}
    return config_class(**{k: v for k, v in values.items() if k in names})


def parse_overrides(config_class, argv: list[str]):
    """Parse ``["--units", "256", ...]`` into ``config_class``; errors are UserErrors.

    Example:
    >>> parse_overrides(CharLMConfig, ["--units", "128"]).units
    128
    """
    parser = _StrictParser(config_class, add_help=False, allow_abbrev=False)
    add_config_arguments(parser, config_class)
    return config_from_args(config_class, vars(parser.parse_args(argv)))


def config_from_dict(config_class, values: dict):
    """Rebuild a config saved with :meth:`RunConfig.to_dict`."""
    names = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise UserError(f"saved settings have unknown keys {unknown} for {config_class.__name__}")
    return config_class(**values)


class _StrictParser(argparse.ArgumentParser):
    """argparse that raises UserError (one line) instead of printing usage and exiting."""

    def __init__(self, config_class=None, **kwargs):
        super().__init__(**kwargs)
        self._config_class = config_class

    def error(self, message):
        if self._config_class is not None and "unrecognized arguments" in message:
            known = " ".join(f"--{f.name}" for f in dataclasses.fields(self._config_class))
            raise UserError(f"{message}; known parameters: {known}")
        if "invalid" in message and "value" in message:
            message = _explain_type_error(self._config_class, message)
        raise UserError(message)


def _explain_type_error(config_class, message: str) -> str:
    # argparse says "argument --units: invalid int value: 'abc'"; say what was expected.
    if config_class is None:
        return message
    for f in dataclasses.fields(config_class):
        if message.startswith(f"argument --{f.name}:"):
            value = message.rsplit(":", 1)[-1].strip()
            return f"--{f.name} expects {_TYPE_NAMES[field_type(f)]}; got {value}"
    return message
