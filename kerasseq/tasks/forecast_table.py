"""The forecasting grid's table: every model and baseline per dataset × horizon, next to the
published figures (MSE / MAE on normalised values, multivariate setting).

Published figures, with their input length: DLinear (Zeng et al., AAAI 2023; exchange rate
from its own Table 2) and PatchTST/42
(input 336) and PatchTST/64 (input 512) as Table 3 of Nie et al. (ICLR 2023) reports them;
Informer, Autoformer and FEDformer at input 96 on ETTh1 (the same table's sources). Compare at
equal input length.
"""

from __future__ import annotations

import json
from pathlib import Path

# {dataset: {horizon: {label: (mse, mae)}}}; label "name (input length)".
_DLINEAR = {
    "ETTh1": [(0.375, 0.399), (0.405, 0.416), (0.439, 0.443), (0.472, 0.490)],
    "ETTh2": [(0.289, 0.353), (0.383, 0.418), (0.448, 0.465), (0.605, 0.551)],
    "ETTm1": [(0.299, 0.343), (0.335, 0.365), (0.369, 0.386), (0.425, 0.421)],
    "ETTm2": [(0.167, 0.260), (0.224, 0.303), (0.281, 0.342), (0.397, 0.421)],
    "weather": [(0.176, 0.237), (0.220, 0.282), (0.265, 0.319), (0.323, 0.362)],
    "exchange": [(0.081, 0.203), (0.157, 0.293), (0.305, 0.414), (0.643, 0.601)],
}
_PATCHTST42 = {
    "ETTh1": [(0.375, 0.399), (0.414, 0.421), (0.431, 0.436), (0.449, 0.466)],
    "ETTh2": [(0.274, 0.336), (0.339, 0.379), (0.331, 0.380), (0.379, 0.422)],
    "ETTm1": [(0.290, 0.342), (0.332, 0.369), (0.366, 0.392), (0.420, 0.424)],
    "ETTm2": [(0.165, 0.255), (0.220, 0.292), (0.278, 0.329), (0.367, 0.385)],
}
_PATCHTST64 = {
    "ETTh1": [(0.370, 0.400), (0.413, 0.429), (0.422, 0.440), (0.447, 0.468)],
    "ETTh2": [(0.274, 0.341), (0.341, 0.382), (0.329, 0.384), (0.379, 0.422)],
    "ETTm1": [(0.293, 0.346), (0.333, 0.370), (0.369, 0.392), (0.416, 0.420)],
    "ETTm2": [(0.166, 0.256), (0.223, 0.296), (0.274, 0.329), (0.362, 0.385)],
}
HORIZONS = (96, 192, 336, 720)


def _published() -> dict:
    table: dict = {}
    for label, source in (("DLinear (336)", _DLINEAR), ("PatchTST/42 (336)", _PATCHTST42),
                          ("PatchTST/64 (512)", _PATCHTST64)):
        for dataset, rows in source.items():
            for horizon, figures in zip(HORIZONS, rows):
                table.setdefault(dataset, {}).setdefault(horizon, {})[label] = figures
    table["ETTh1"][96].update({"Informer (96)": (0.865, 0.713), "Autoformer (96)": (0.449, 0.459),
                               "FEDformer (96)": (0.376, 0.419)})
    return table


PUBLISHED = _published()


def read_runs(run_dir, names=None) -> list[dict]:
    """The scores and metrics of every finished run under ``run_dir`` (grid folders)."""
    run_dir = Path(run_dir)
    folders = [run_dir / n for n in names] if names else sorted(p.parent for p in run_dir.glob("*/forecast_scores.json"))
    runs = []
    for folder in folders:
        scores, metrics = folder / "forecast_scores.json", folder / "metrics.json"
        if scores.exists() and metrics.exists():
            run = {**json.loads(scores.read_text()), "metrics": json.loads(metrics.read_text()),
                   "dir": folder.name}
            state = folder / "checkpoint" / "state.json"
            run["model"] = model_label(run["model"], json.loads(state.read_text())["config"]
                                       if state.exists() else {})
            runs.append(run)
    return runs


def model_label(model: str, config: dict) -> str:
    """A model's column name: ``+revin`` when wrapped in RevIN, ``(free)`` for a recurrent
    model trained closed loop rather than with teacher forcing."""
    label = model
    if model in ("lstm", "gru", "narx") and config.get("teacher_forcing") is False:
        label += " (free)"
    return label + ("+revin" if config.get("revin") else "")


def forecast_table(runs: list[dict]) -> str:
    """Markdown: one table per dataset, a row per horizon, MSE / MAE of every model and
    baseline (the best of ours in bold) and the published figures."""
    lines = []
    datasets = sorted({r["dataset"] for r in runs}, key=lambda d: (d not in PUBLISHED, d))
    for dataset in datasets:
        mine = [r for r in runs if r["dataset"] == dataset]
        models = sorted({r["model"] for r in mine})
        published = sorted({label for h in PUBLISHED.get(dataset, {}).values() for label in h})
        inputs = sorted({r["input_length"] for r in mine})
        lines += [f"### {dataset} (input length {', '.join(map(str, inputs))}; MSE / MAE, "
                  "normalised, every test window)", "",
                  "| horizon | " + " | ".join([*models, "last value", "seasonal naive", *published]) + " |",
                  "|---" * (3 + len(models) + len(published)) + "|"]
        for horizon in sorted({r["horizon"] for r in mine}):
            runs_h = {r["model"]: r for r in mine if r["horizon"] == horizon}
            cells = {m: (runs_h[m]["metrics"]["mse"], runs_h[m]["metrics"]["mae"]) for m in runs_h}
            best = min(cells.values())[0] if cells else None
            row = []
            for m in models:
                if m in cells:
                    text = f"{cells[m][0]:.3f} / {cells[m][1]:.3f}"
                    row.append(f"**{text}**" if cells[m][0] == best and len(cells) > 1 else text)
                else:
                    row.append("")
            any_run = next(iter(runs_h.values()))["metrics"]
            for base in ("last_value", "seasonal_naive"):
                mse = any_run.get(f"{base}_mse")
                row.append(f"{mse:.3f} / {any_run[f'{base}_mae']:.3f}" if mse is not None else "n/a")
            for label in published:
                figures = PUBLISHED.get(dataset, {}).get(horizon, {}).get(label)
                row.append(f"{figures[0]:.3f} / {figures[1]:.3f}" if figures else "")
            lines.append(f"| {horizon} | " + " | ".join(row) + " |")
        seconds = sum(r["metrics"].get("wall_seconds", 0) for r in mine)
        lines += ["", f"{len(mine)} runs, {seconds / 60:.1f} min of training and evaluation.", ""]
    return "\n".join(lines)


def write_forecast_table(run_dir, names=None) -> list[Path]:
    """Write ``forecast_table.md`` under ``run_dir`` from its finished runs; return its path."""
    runs = read_runs(run_dir, names)
    if not runs:
        return []
    path = Path(run_dir) / "forecast_table.md"
    path.write_text(forecast_table(runs))
    return [path]
