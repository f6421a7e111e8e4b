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
