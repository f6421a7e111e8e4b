"""Timing shared by the benchmark scripts: Keras' own training loop over batches kept on the
device, ``train_on_batch`` timing, the backend's settings and its peak device memory.
Imported as ``from keras_timing import keras_fit`` (the scripts run from ``benchmarks/``,
which Python puts first on the path)."""

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


def keras_train_on_batch(model, pool, warmup, steps):
    """Seconds per ``train_on_batch`` step over ``pool`` (each returns the loss as a Python
    float: a device sync every step, as the peers time Keras)."""
    for i in range(warmup):
        model.train_on_batch(*pool[i % len(pool)])
    start = time.perf_counter()
    for i in range(steps):
        model.train_on_batch(*pool[i % len(pool)])
    return (time.perf_counter() - start) / steps


def keras_settings(no_tf32, jit_on_tensorflow_cpu=True):
    """(jit_compile, device description) for this backend; applies ``no_tf32`` (full fp32
    matmuls and convolutions). ``jit_on_tensorflow_cpu=False`` keeps XLA off on TensorFlow
    without a GPU; Keras' torch backend never compiles here (Keras' own ``auto`` there)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        if no_tf32:
            jax.config.update("jax_default_matmul_precision", "highest")
        device = jax.devices()[0]
        return True, (f"jax {jax.__version__}, device {getattr(device, 'device_kind', '?')} "
                      f"({device.platform}), jax_default_matmul_precision="
                      f"{jax.config.jax_default_matmul_precision}")
    if backend == "tensorflow":
        import tensorflow as tf

        if no_tf32:
            tf.config.experimental.enable_tensor_float_32_execution(False)
        gpu = bool(tf.config.list_physical_devices("GPU"))
        return gpu or jit_on_tensorflow_cpu, (
            f"tensorflow {tf.__version__}, {'GPU' if gpu else 'CPU, no GPU'}, TF32 "
            f"{tf.config.experimental.tensor_float_32_execution_enabled()}")
    import torch

    if no_tf32:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    return False, f"torch {torch.__version__}, cuda {torch.cuda.is_available()}"


def keras_peak_memory():
    """(peak bytes or None, how it was read)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}  # None on a CPU
        if "peak_bytes_in_use" in stats:
            return stats["peak_bytes_in_use"], "jax peak_bytes_in_use since the process started"
    elif backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return (tf.config.experimental.get_memory_info("GPU:0")["peak"],
                    "tf get_memory_info peak since the process started")
    else:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.max_memory_allocated(), "torch max_memory_allocated"
    return None, "no device memory statistics on a CPU"
