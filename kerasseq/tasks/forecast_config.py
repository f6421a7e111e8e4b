"""Settings of the long-horizon forecasting task (kept apart from ``configs.py`` for size;
like it, importable without Keras)."""

from __future__ import annotations

from dataclasses import dataclass

from kerasseq.config import RunConfig, param
from kerasseq.errors import UserError

# kerasseq.data.forecasting.BENCHMARKS and the forecasting models, without importing Keras
# (a test keeps them equal).
FORECAST_DATASETS = ("ETTh1", "ETTh2", "ETTm1", "ETTm2", "weather", "exchange", "ili")
FORECAST_MODELS = ("patchtst", "dlinear", "transformer", "lstm", "gru", "narx", "tdnn")


def _names(text: str, known: tuple, option: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise UserError(f"--{option} takes one or more of {', '.join(known)}, comma-separated; "
                        f"got {text!r}")
    return names


@dataclass(frozen=True)
class ForecastConfig(RunConfig):
    """Settings of long-horizon forecasting (defaults: PatchTST on ETTh1, input 336, horizon
    96, with the model's published training recipe). Comma-separated ``--dataset``,
    ``--model`` and ``--horizon`` run the whole grid, one run each, and write the tables."""

    RECIPE_FIELDS = ("epochs", "learning_rate")

    dataset: str = param("ETTh1", f"benchmark(s): {', '.join(FORECAST_DATASETS)}, comma-separated "
                         "(ignored with --csv)")
    model: str = param("patchtst", f"model(s), comma-separated: {', '.join(FORECAST_MODELS)}")
    horizon: str = param("96", "forecast horizon(s), comma-separated (the protocol: 96,192,336,720; "
                         "ILI 24,36,48,60)")
    input_length: int = param(0, "input window; 0: the protocol's (336; ILI 36)")
    features: str = param("M", "M: every channel in and forecast; S: the target alone; MS: every "
                          "channel in, the target forecast", choices=("M", "S", "MS"))
    epochs: int = param(0, "at most this many passes; 0: the model's recipe")
    learning_rate: float = param(0.0, "Adam learning rate; 0: the model's recipe")
    lr_schedule: str = param("recipe", "recipe (the model's), constant, cosine, halving (×0.5 "
                             "per epoch after the second: DLinear's lradj type1) or decay90 "
                             "(×0.9 per epoch after the fourth: PatchTST's type3) or one_cycle "
                             "(torch's OneCycleLR over every step: PatchTST's TST, on ETTm)",
                             choices=("recipe", "constant", "cosine", "halving", "decay90",
                                      "one_cycle"))
    pct_start: float = param(0.0, "one_cycle: the share of the steps spent rising to "
                             "--learning_rate; 0: the recipe's (PatchTST on ETTm: 0.4), else 0.3")
    clipnorm: float = param(0.0, "clip gradients to this global norm; 0 disables clipping")
    batch_size: int = param(0, "windows per batch; 0: the model's recipe")
    patience: int = param(0, "stop after this many epochs without a better validation MSE "
                          "(the best epoch's weights are kept); 0: the model's recipe")
    d_model: int = param(0, "patchtst/transformer width; 0: the recipe (PatchTST: 16 on ETTh/ILI, "
                         "128 on ETTm/weather)")
    depth: int = param(0, "encoder layers (patchtst, transformer) or stacked RNN layers; 0: recipe")
    units: int = param(64, "lstm/gru/narx width; tdnn filters")
    patch_len: int = param(16, "patchtst: patch length")
    stride: int = param(8, "patchtst: patch stride")
    individual: bool = param(False, "dlinear: one linear layer per channel")
    teacher_forcing: bool = param(True, "narx, lstm/gru decoder: train open loop on the true past "
                                  "values (evaluated closed loop)")
    revin: bool = param(False, "tdnn, lstm, gru, narx: wrap the model in reversible instance "
                        "normalisation (each window scaled by its own statistics; with "
                        "--teacher_forcing false for the recurrent ones)")
    quantiles: str = param("", "dlinear, patchtst: forecast these quantile levels, comma-separated "
                           "(must include 0.5, e.g. 0.1,0.5,0.9), trained with the pinball loss")
    csv: str = param("", "forecast your own CSV file instead of a benchmark")
    target: str = param("", "--csv: the column(s) to forecast, comma-separated")
    exogenous: str = param("", "--csv: other columns the models see, comma-separated")
    date_column: str = param("date", "--csv: the time-stamp column")
    freq: str = param("", "--csv: the time step (pandas alias: h, 15min, D ...); empty: inferred")
    season: int = param(0, "steps per season of the seasonal-naive baseline; 0: the dataset's "
                         "(one day; ILI one year) or one from --freq")
    max_train_windows: int = param(0, "train on at most this many windows (evenly spaced); 0: all")
    max_test_windows: int = param(0, "score at most this many test windows; 0: all (the protocol)")
    plots: int = param(4, "test windows drawn with their forecasts")

    def __post_init__(self):
        super().__post_init__()
        _names(self.model, FORECAST_MODELS, "model")
        if not self.csv:
            _names(self.dataset, FORECAST_DATASETS, "dataset")
        elif not self.target:
            raise UserError("--csv needs --target: the column(s) to forecast")
        if self.target and not self.csv:
            raise UserError("--target, --exogenous and --date_column describe a --csv file; "
                            "pass --csv PATH")
        try:
            horizons = [int(h) for h in self.horizon.split(",")]
        except ValueError:
            horizons = []
        if not horizons or min(horizons) < 1:
            raise UserError(f"--horizon takes positive integers, comma-separated; got {self.horizon!r}")
        for name in ("input_length", "batch_size", "patience", "d_model", "depth", "season",
                     "max_train_windows", "max_test_windows", "plots"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} must be >= 0; got {getattr(self, name)}")
        for name in ("units", "patch_len", "stride"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        if self.revin:
            models = _names(self.model, FORECAST_MODELS, "model")
            bad = [m for m in models if m in ("patchtst", "transformer", "dlinear")]
            if bad:
                raise UserError(f"--revin wraps tdnn, lstm, gru and narx; {', '.join(bad)} "
                                "normalise (or not) as their papers do")
            if self.teacher_forcing and any(m in ("lstm", "gru", "narx") for m in models):
                raise UserError("--revin on lstm, gru or narx needs --teacher_forcing false (the "
                                "wrapped model is the closed-loop forecaster)")
        if self.quantiles:
            try:
                levels = self.quantile_levels
            except ValueError:
                levels = ()
            if 0.5 not in levels or not all(0 < q < 1 for q in levels) or list(levels) != sorted(set(levels)):
                raise UserError(f"--quantiles takes increasing levels in (0, 1) including 0.5, e.g. "
                                f"0.1,0.5,0.9; got {self.quantiles!r}")
            other = [m for m in _names(self.model, FORECAST_MODELS, "model") if m not in ("dlinear", "patchtst")]
            if other:
                raise UserError(f"--quantiles: quantile heads exist for dlinear and patchtst; not for "
                                f"{', '.join(other)}")

    @property
    def quantile_levels(self) -> tuple:
        return tuple(float(q) for q in self.quantiles.split(",") if q.strip()) if self.quantiles else ()

    @property
    def grid(self) -> list[dict]:
        """The runs these settings ask for: one per dataset × model × horizon."""
        datasets = ["csv"] if self.csv else _names(self.dataset, FORECAST_DATASETS, "dataset")
        return [dict(dataset=d, model=m, horizon=h)
                for d in datasets for m in _names(self.model, FORECAST_MODELS, "model")
                for h in self.horizon.split(",")]
