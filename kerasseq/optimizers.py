"""Learning-rate schedules that Keras lacks: the Transformer's warm-up then inverse square
root, the forecasting code's per-epoch step decays, and PyTorch's one-cycle policy."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasseq")
class TransformerSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lrate = scale · d_model^-0.5 · min(step^-0.5, step · warmup_steps^-1.5) (Vaswani et al.
    2017, eq. 3): linear warm-up for ``warmup_steps`` steps, then decay ∝ 1/√step.

    ``step`` is the optimizer's iteration count + 1 (Keras counts from 0; the formula from 1),
    so the first update already has a non-zero rate. The peak, at ``step = warmup_steps``, is
    scale · (d_model · warmup_steps)^-0.5.

    Args:
        d_model: the model width d_model.
        warmup_steps: steps of linear warm-up (the paper: 4000).
        scale: a factor on the whole rate (the paper: 1).

    Example:
    >>> optimizer = keras.optimizers.Adam(TransformerSchedule(256), beta_2=0.98, epsilon=1e-9)
    """

    def __init__(self, d_model: int, warmup_steps: int = 4000, scale: float = 1.0):
        if d_model < 1 or warmup_steps < 1:
            raise ValueError(f"Expected d_model >= 1 and warmup_steps >= 1. "
                             f"Received: d_model={d_model}, warmup_steps={warmup_steps}")
        self.d_model = d_model
        self.warmup_steps = warmup_steps
        self.scale = scale

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        rate = ops.minimum(ops.power(step, -0.5), step * float(self.warmup_steps) ** -1.5)
        return self.scale * float(self.d_model) ** -0.5 * rate

    def get_config(self):
        return {"d_model": self.d_model, "warmup_steps": self.warmup_steps, "scale": self.scale}


@keras.saving.register_keras_serializable(package="kerasseq")
class EpochDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lrate = initial · rate^max(0, epoch − hold), epochs counted from 1: the rate is kept for
    ``hold`` epochs, then multiplied by ``rate`` at the start of every later epoch.

    The forecasting literature's step schedules, whose ``adjust_learning_rate(optimizer,
    epoch + 1, args)`` runs at the *end* of each epoch and sets the next epoch's rate:
    ``lradj='type1'`` of the Informer/Autoformer/DLinear code (``lr · 0.5^(e − 1)`` after epoch
    e) keeps the rate for two epochs and halves it from the third on, ``hold=2, rate=0.5``.
    PatchTST's ``type3`` (``lr`` for ``e < 3``, else ``lr · 0.9^(e − 3)`` after epoch e) keeps
    it for four epochs, then ×0.9 per epoch: ``hold=4, rate=0.9``.

    Args:
        initial_learning_rate: the rate of the first epochs.
        steps_per_epoch: optimizer steps in one epoch.
        rate: the factor applied per epoch after the hold.
        hold: epochs at the initial rate.

    Example:
    >>> optimizer = keras.optimizers.Adam(EpochDecay(5e-3, steps_per_epoch=257, hold=2))  # type1
    """

    def __init__(self, initial_learning_rate: float, steps_per_epoch: int, rate: float = 0.5,
                 hold: int = 1):
        if steps_per_epoch < 1 or not 0 < rate <= 1 or hold < 1:
            raise ValueError(f"Expected steps_per_epoch >= 1, 0 < rate <= 1, hold >= 1. Received: "
                             f"steps_per_epoch={steps_per_epoch}, rate={rate}, hold={hold}")
        self.initial_learning_rate = initial_learning_rate
        self.steps_per_epoch = steps_per_epoch
        self.rate = rate
        self.hold = hold

    def __call__(self, step):
        epoch = ops.floor(ops.cast(step, "float32") / float(self.steps_per_epoch)) + 1.0
        decays = ops.maximum(epoch - float(self.hold), 0.0)
        return self.initial_learning_rate * ops.power(float(self.rate), decays)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "steps_per_epoch": self.steps_per_epoch, "rate": self.rate, "hold": self.hold}


@keras.saving.register_keras_serializable(package="kerasseq")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """The one-cycle policy as PyTorch's ``OneCycleLR`` (cosine annealing, two phases): from
    max / ``div_factor`` up to ``max_learning_rate`` over the first ``pct_start`` of the steps,
    then down to max / (``div_factor`` · ``final_div_factor``) at the last step.

        up = pct_start · total − 1                            (the step of the peak)
        lr(s) = cos_anneal(initial, max, s / up)                        for s ≤ up
        lr(s) = cos_anneal(max, final, (s − up) / (total − 1 − up))     after
        cos_anneal(a, b, p) = b + (a − b) (1 + cos(π p)) / 2

    PatchTST's ``lradj='TST'`` (its ETTm1/ETTm2 scripts: ``--pct_start 0.4``), stepped once per
    batch over ``train_epochs · steps_per_epoch`` steps. Steps past the end keep the final rate.

    Args:
        max_learning_rate: the peak.
        total_steps: optimizer steps in the whole schedule.
        pct_start: the share of the steps spent rising.
        div_factor: initial rate = max / div_factor.
        final_div_factor: final rate = initial / final_div_factor.

    Example:
    >>> optimizer = keras.optimizers.Adam(OneCycle(1e-4, total_steps=100 * 265, pct_start=0.4))

    References:
        Smith & Topin 2019, "Super-convergence"; ``torch.optim.lr_scheduler.OneCycleLR``.
    """

    def __init__(self, max_learning_rate: float, total_steps: int, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4):
        if total_steps < 2 or not 0 < pct_start < 1 or div_factor <= 0 or final_div_factor <= 0:
            raise ValueError(f"Expected total_steps >= 2, 0 < pct_start < 1 and positive factors. "
                             f"Received: total_steps={total_steps}, pct_start={pct_start}, "
                             f"div_factor={div_factor}, final_div_factor={final_div_factor}")
        self.max_learning_rate = max_learning_rate
        self.total_steps = total_steps
        self.pct_start = pct_start
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor

    def __call__(self, step):
        step = ops.minimum(ops.cast(step, "float32"), float(self.total_steps - 1))
        peak = float(self.max_learning_rate)
        initial = peak / self.div_factor
        final = initial / self.final_div_factor
        up = float(self.pct_start * self.total_steps) - 1.0
        down = float(self.total_steps) - 1.0 - up

        def anneal(start, end, fraction):
            return end + (start - end) / 2.0 * (ops.cos(math.pi * fraction) + 1.0)

        rising = anneal(initial, peak, step / up)
        falling = anneal(peak, final, (step - up) / down)
        return ops.where(step <= up, rising, falling)

    def get_config(self):
        return {"max_learning_rate": self.max_learning_rate, "total_steps": self.total_steps,
                "pct_start": self.pct_start, "div_factor": self.div_factor,
                "final_div_factor": self.final_div_factor}
