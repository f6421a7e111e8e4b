"""Search spaces for ``kerasseq tune``, declared next to each task's defaults, without Keras.

A task's settings class (:mod:`kerasseq.tasks.configs`) opts in with three class attributes:

- ``SEARCH_SPACE``: ``{setting: spec}``, the specs made by :func:`choice`, :func:`int_range`
  and :func:`float_range`: plain dicts holding the arguments of KerasTuner's ``hp.Choice``,
  ``hp.Int`` and ``hp.Float``, optionally searched only ``when`` another setting has given
  values (``filters`` only for ``model="cnn"``);
- ``SEARCH_OBJECTIVE``: ``(final metric, "min" | "max")``, a metric of ``Task.evaluate`` on
  validation (never test) data;
- ``SEARCH_SETTINGS``: what a search changes from the defaults (MR: one fold's dev split,
  ``fold=0``, instead of the 10-fold cross-validation); the chosen configuration is then run
  with these settings back at their defaults.

Example:
>>> space = {"learning_rate": float_range(1e-4, 1e-2, log=True),
...          "filters": choice(50, 100, when={"model": "cnn"})}
"""

from __future__ import annotations

import dataclasses
import shlex

from kerasseq.errors import UserError

TUNERS = ("bayesian", "hyperband", "random")


def choice(*values, when: dict | None = None) -> dict:
    """One of ``values`` (KerasTuner ``hp.Choice``; numbers are ordered for the Bayesian
    optimiser)."""
    return _spec({"type": "choice", "values": list(values)}, when)


def int_range(min_value: int, max_value: int, step: int = 1, log: bool = False,
              when: dict | None = None) -> dict:
    """An integer in ``[min_value, max_value]`` (KerasTuner ``hp.Int``)."""
    return _spec({"type": "int", "min_value": min_value, "max_value": max_value, "step": step,
                  "sampling": "log" if log else "linear"}, when)


def float_range(min_value: float, max_value: float, step: float | None = None, log: bool = False,
                when: dict | None = None) -> dict:
    """A number in ``[min_value, max_value]`` (KerasTuner ``hp.Float``); ``log``: uniform in
    its logarithm (learning rates)."""
    return _spec({"type": "float", "min_value": min_value, "max_value": max_value, "step": step,
                  "sampling": "log" if log else "linear"}, when)


def _spec(spec: dict, when: dict | None) -> dict:
    if when:
        spec["when"] = {name: list(v) if isinstance(v, (list, tuple)) else [v]
                        for name, v in when.items()}
    return spec


def spec_values(spec: dict) -> list:
    """The values a spec can take at its ends (every choice; a range's two bounds)."""
    if spec["type"] == "choice":
        return list(spec["values"])
    return [spec["min_value"], spec["max_value"]]


def describe(spec: dict) -> str:
    """``one of 64, 128, 300`` / ``0.0003 .. 0.003 (log)``, for the printed plan."""
    if spec["type"] == "choice":
        text = "one of " + ", ".join(map(str, spec["values"]))
    else:
        text = f"{spec['min_value']:g} .. {spec['max_value']:g}"
        text += f" step {spec['step']:g}" if spec.get("step") not in (None, 1) else ""
        text += " (log)" if spec["sampling"] == "log" else ""
    if spec.get("when"):
        text += " when " + ", ".join(f"{k} is {'/'.join(map(str, v))}" for k, v in spec["when"].items())
    return text


def has_search_space(config_class) -> bool:
    return bool(getattr(config_class, "SEARCH_SPACE", None))


def searched_space(config, fixed=()) -> dict:
    """The task's ``SEARCH_SPACE`` less the settings ``fixed`` on the command line.

    A conditional setting whose parent is fixed (or not searched) is kept unconditionally
    when the parent's value satisfies the condition and dropped otherwise (``--model rnn``
    drops ``filters``).
    """
    space = getattr(type(config), "SEARCH_SPACE", None) or {}
    kept = {name: spec for name, spec in space.items() if name not in fixed}
    result = {}
    for name, spec in kept.items():
        when, active = {}, True
        for parent, values in spec.get("when", {}).items():
            if parent in kept:
                when[parent] = values
            elif getattr(config, parent) not in values:
                active = False
        if active:
            result[name] = {**{k: v for k, v in spec.items() if k != "when"},
                            **({"when": when} if when else {})}
    if not result:
        raise UserError(f"nothing left to search: the command line fixes or rules out every setting "
                        f"of the search space ({', '.join(space)})")
    return result


def parse_objective(config_class, text: str | None) -> tuple[str, str]:
    """``(metric, direction)`` from ``--objective NAME[:min|max]`` (default: the task's)."""
    default = getattr(config_class, "SEARCH_OBJECTIVE", None)
    if not text:
        return tuple(default)
    name, _, direction = text.partition(":")
    if not direction and default and name == default[0]:
        direction = default[1]
    if name.startswith("test_"):
        raise UserError(f"--objective {name}: the test split gives the reported figure and must not "
                        f"choose the settings; use a validation metric"
                        + (f" (the default: {default[0]})" if default else ""))
    if direction not in ("min", "max"):
        raise UserError(f"--objective {text}: say whether to minimise or maximise it, e.g. "
                        f"--objective {name}:max or {name}:min")
    return name, direction


def trial_config(base, values: dict):
    """``base`` with a trial's ``values`` (KerasTuner's ``tuner/epochs`` of Hyperband becomes
    ``epochs``), each cast to its field's type."""
    from kerasseq.config import field_type

    types = {f.name: field_type(f) for f in dataclasses.fields(base)}
    changes = {k: types[k](v) if types[k] in (int, float) else v
               for k, v in values.items() if not k.startswith("tuner/")}
    if "tuner/epochs" in values:
        changes["epochs"] = int(values["tuner/epochs"])
    return dataclasses.replace(base, **changes)


def protocol_config(config):
    """The chosen settings back on the task's full protocol: ``SEARCH_SETTINGS`` at their
    defaults (MR: ``fold=-1``, the 10-fold cross-validation)."""
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    return dataclasses.replace(config, **{k: defaults[k] for k in getattr(config, "SEARCH_SETTINGS", {})})


def train_command(task_name: str, config, run_dir) -> str:
    """The ``kerasseq train`` command for ``config``: every setting that differs from the
    default, and the ``SEARCH_SETTINGS`` keys always (``--fold -1``)."""
    shown = set(getattr(config, "SEARCH_SETTINGS", {}))
    words = ["kerasseq", "train", task_name]
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value != f.default or f.name in shown:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            words += [f"--{f.name}", shlex.quote(text)]
    return " ".join(words + ["--run_dir", shlex.quote(str(run_dir))])
