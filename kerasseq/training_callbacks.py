"""Callbacks of the shared runner: stop at a NaN loss, stop before a time limit, and keep the
weights' moving average in the model where it is evaluated (``--ema``)."""

from __future__ import annotations

import math
import time

import keras


class StopOnNaN(keras.callbacks.Callback):
    """Stop training at the first batch whose loss is NaN or infinite."""

    def __init__(self):
        super().__init__()
        self.stopped_at = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.stopped_at = (self._epoch, batch)
            self.model.stop_training = True


class AveragedWeights(keras.callbacks.SwapEMAWeights):
    """Puts the optimizer's moving average of the weights (``use_ema=True``) into the model at
    the end of every epoch and for validation, and the raw weights back when training goes on.

    Keras' ``SwapEMAWeights(swap_on_epoch=True)`` does most of this, but leaves the raw
    weights in the model when training ends early (early stopping, ``--max_minutes``: its
    end-of-training fix-up runs in the last planned epoch only) and does not know that a
    resumed run's checkpoint holds the average in the model and the raw weights in the
    optimizer. Here the checkpoint always holds the average in the model (saved at an epoch's
    end), a resumed run swaps the raw weights back in before its first step, and training ends
    with the average in the model however it ends.

    Args:
        in_model: whether the model holds the average now (a run resumed from a checkpoint).
    """

    def __init__(self, in_model: bool = False):
        super().__init__(swap_on_epoch=True)
        self._ema_weights_in_model = in_model

    def set_model(self, model):
        super().set_model(model)
        # fit() would end by copying the optimizer's slots (holding the raw weights after our
        # last swap) into the model; the average is already there.
        model.optimizer.finalize_variable_values = lambda var_list: None

    def _swap_to(self, average: bool) -> None:
        if self._ema_weights_in_model != average:
            self._swap_variables()
            self._ema_weights_in_model = average

    def on_epoch_begin(self, epoch, logs=None):
        self._swap_to(False)

    def on_epoch_end(self, epoch, logs=None):
        self._swap_to(True)

    def on_test_begin(self, logs=None):
        self._swap_to(True)

    def on_test_end(self, logs=None):
        pass  # the epoch's end keeps the average in; the next epoch swaps it out

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        self._swap_to(True)


class TimeLimit(keras.callbacks.Callback):
    """Stop training at the end of the first epoch after which one more epoch (at the mean
    duration of this process's epochs so far) would pass ``minutes`` of training: the budget
    of a lent GPU, a CI slot or a queue. The run is then evaluated and exported as if
    training had ended; the same command run again resumes training from that checkpoint
    (on the same learning-rate curve) up to ``--epochs``."""

    def __init__(self, minutes: float):
        super().__init__()
        self.seconds = 60.0 * minutes
        self.stopped_after = None  # epochs run when the limit stopped training

    def on_train_begin(self, logs=None):
        self._start, self._epochs = time.time(), 0

    def on_epoch_end(self, epoch, logs=None):
        self._epochs += 1
        elapsed = time.time() - self._start
        if elapsed + elapsed / self._epochs > self.seconds \
                and not getattr(self.model, "stop_training", False):
            self.model.stop_training = True
            self.stopped_after = epoch + 1
            print(f"\nStopping after epoch {epoch + 1}: {elapsed / 60:.1f} min of training, and "
                  f"another epoch would pass --max_minutes {self.seconds / 60:g}; evaluating. "
                  "Run the same command again to train on.", flush=True)
