"""Timing shared by the benchmark scripts: Keras' own training loop over batches kept on the
device. Imported as ``from keras_timing import keras_fit`` (the scripts run from
``benchmarks/``, which Python puts first on the path)."""

import itertools
import time

import numpy as np


def keras_fit(model, pool, warmup, steps):
    """Seconds per step of ``model.fit`` over the device-resident ``pool`` of batches (after
    a warm-up fit of ``warmup`` steps, which compiles the step)."""
    def batches():  # a generator (what Keras' GeneratorDataAdapter takes), endless
        yield from itertools.cycle(pool)

    fit = dict(epochs=1, shuffle=False, verbose=0)
    model.fit(batches(), steps_per_epoch=warmup, **fit)
    start = time.perf_counter()
    history = model.fit(batches(), steps_per_epoch=steps, **fit)  # awaits the last
    seconds = (time.perf_counter() - start) / steps
    loss = history.history["loss"][-1]
    if not np.isfinite(loss):
        print(f"# warning: the loss is {loss}", flush=True)
    return seconds
