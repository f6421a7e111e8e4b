"""Learning-rate schedules that Keras lacks: the Transformer's warm-up then inverse square root."""

from __future__ import annotations

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
