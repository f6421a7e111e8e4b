"""The PyTorch ratio table of a benchmark run: pairs the ``RESULT`` lines that both sides of
every script print (``RESULT framework case ms/step samples/s``) by case, and writes one
Markdown row per case with each side's fastest as-is variant, the speed ratio and the MFU.

Case names follow each script's convention: a side's variant is a suffix (``-eager``,
``-compile``, ``-fit``, ``-train_on_batch``, ``-kerasseq-fit``, ...) or, for the Transformer,
``-train_on_batch-`` in place of ``-train-``; the Keras side of the attention cases carries a
``kerasseq-``/``keras-`` prefix. Diagnostic variants (DETR's ``fixed-host``,
``fixed-device``, ``scipy``, ``callback``) are not compared.

    python benchmarks/ratios.py results.txt          # prints the table
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

AS_IS = {"torch": ("", "eager", "compile", "train"),
         "kerasseq": ("", "fit", "train_on_batch", "kerasseq-fit", "kerasseq-train_on_batch"),
         "keras-hub": ("",)}
_VARIANT = re.compile(r"^(?P<key>.+?)-(?P<variant>kerasseq-fit|kerasseq-train_on_batch|kerasseq-train"
                      r"|train_on_batch|fit|eager|compile|train|fixed-host|fixed-device|scipy"
                      r"|callback)$")
_RESULT = re.compile(r"^RESULT (?P<framework>\S+) (?P<case>\S+) (?P<ms>[\d.]+) ms/step")
_MFU = re.compile(r"^MFU (?P<framework>\S+) (?P<case>\S+) (?P<share>[\d.]+)% of")


@dataclass
class Case:
    key: str
    sides: dict = field(default_factory=dict)  # side -> {variant: ms}
    mfu: dict = field(default_factory=dict)  # (side, variant) -> percent


def side_of(framework: str) -> str | None:
    """``torch...`` -> PyTorch, ``kerashub...`` -> keras-hub, ``keras...`` -> kerasseq (its
    Keras side); anything else (``scipy``) is not a side."""
    name = framework.split(":")[0]
    if name.startswith("torch"):
        return "torch"
    if name == "kerashub":
        return "keras-hub"
    if name.startswith("keras"):
        return "kerasseq"
    return None


def split_case(case: str) -> tuple[str, str]:
    """``(key, variant)`` of a case name, the key shared by both sides."""
    for prefix in ("kerasseq-", "keras-"):
        if case.startswith(prefix):
            case = case[len(prefix):]
    if "-train_on_batch-" in case:  # the Transformer's naming
        return case.replace("-train_on_batch-", "-train-"), "train_on_batch"
    match = _VARIANT.match(case)
    return (match["key"], match["variant"]) if match else (case, "")


def parse(text: str) -> dict[str, Case]:
    """The cases of a results file, in the order they first appear."""
    cases: dict[str, Case] = {}
    for line in text.splitlines():
        for pattern, kind in ((_RESULT, "result"), (_MFU, "mfu")):
            match = pattern.match(line.strip())
            if not match:
                continue
            side = side_of(match["framework"])
            if side is None:
                continue
            key, variant = split_case(match["case"])
            case = cases.setdefault(key, Case(key))
            if kind == "result":
                case.sides.setdefault(side, {})[variant] = float(match["ms"])
            else:
                case.mfu[(side, variant)] = float(match["share"])
    return cases


def _best(timings: dict, side: str):
    usable = {v: ms for v, ms in timings.items() if v in AS_IS[side]}
    return min(usable.items(), key=lambda item: item[1]) if usable else None


def _cell(timings: dict, side: str) -> str:
    usable = [(v, ms) for v, ms in timings.items() if v in AS_IS[side]]
    return ", ".join(f"{ms:g}" + (f" {v}" if v else "") for v, ms in usable) or "—"


def ratio_table(cases: dict[str, Case]) -> str:
    """Markdown: one row per case measured on both PyTorch and kerasseq; the ratio is the
    fastest PyTorch variant's time over kerasseq's fastest (> 1: kerasseq is faster)."""
    rows = ["| case | PyTorch ms/step | kerasseq ms/step | kerasseq vs PyTorch | kerasseq MFU |",
            "|---|---|---|---|---|"]
    for case in cases.values():
        torch, ours = (case.sides.get(s, {}) for s in ("torch", "kerasseq"))
        best_torch, best_ours = _best(torch, "torch"), _best(ours, "kerasseq")
        if not (best_torch and best_ours):
            continue
        ratio = best_torch[1] / best_ours[1]
        mfu = case.mfu.get(("kerasseq", best_ours[0]))
        rows.append(f"| {case.key} | {_cell(torch, 'torch')} | {_cell(ours, 'kerasseq')} | "
                    f"{'**' if ratio >= 1 else ''}{ratio:.2f}×{'**' if ratio >= 1 else ''} | "
                    f"{f'{mfu:g}%' if mfu is not None else ''} |")
    hub = [c for c in cases.values() if "keras-hub" in c.sides and "kerasseq" in c.sides]
    if hub:
        rows += ["", "| case | keras-hub ms/step | kerasseq ms/step | kerasseq vs keras-hub |",
                 "|---|---|---|---|"]
        for case in hub:
            theirs, ours = _best(case.sides["keras-hub"], "keras-hub"), _best(case.sides["kerasseq"], "kerasseq")
            if theirs and ours:
                rows.append(f"| {case.key} | {theirs[1]:g} | {ours[1]:g} | {theirs[1] / ours[1]:.2f}× |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python benchmarks/ratios.py RESULTS_TXT")
    with open(sys.argv[1]) as f:
        print(ratio_table(parse(f.read())), end="")
