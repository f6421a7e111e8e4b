"""Model FLOPs utilisation (MFU): achieved FLOP/s over the device's peak, for the benchmarks
that report it (vision_throughput.py, transformer_step.py).

MFU = (model FLOPs per sample x samples per second) / peak FLOP/s. The model FLOPs are each
script's analytic count (2 x the multiply-adds of matmuls and convolutions; a training step
counted as 3 x the forward pass); the peak is NVIDIA's dense figure for the precision the
step computes in: bf16 for bf16 steps, TF32 for fp32 steps on Hopper (JAX's default matmul
precision there, and PyTorch's for convolutions). The assumption is printed with each figure.
"""

# (device-name fragment, dense peak FLOP/s); the first match wins, so "H100 PCIe" before "H100".
PEAK = {
    "bf16": (("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12)),
    "fp32": (("H200", 494.7e12), ("H100 PCIe", 378e12), ("H100", 494.7e12)),  # TF32
}


def peak_flops(device_kind, override_tflops=None, precision="bf16"):
    """(peak dense FLOP/s or None, the assumption in words) of ``device_kind`` at ``precision``
    (``"bf16"``, or ``"fp32"``: TF32 tensor-core math); ``override_tflops`` wins."""
    if override_tflops:
        return override_tflops * 1e12, f"peak {override_tflops:g} TFLOP/s (--peak-tflops)"
    name = "dense bf16" if precision == "bf16" else "dense TF32 (fp32 steps)"
    for key, peak in PEAK[precision]:
        if key in device_kind:
            return peak, f"peak {peak / 1e12:g} TFLOP/s {name} (assumed for {key})"
    return None, f"no peak known for {device_kind!r}: MFU not computed (--peak-tflops sets one)"


def report_mfu(framework, case, seconds, samples, flops_per_sample, peak, unit="image"):
    """Print ``MFU framework case P% of T TFLOP/s (...)`` for ``samples`` in ``seconds``."""
    achieved = flops_per_sample * samples / seconds
    share = f"{100 * achieved / peak:.1f}% of {peak / 1e12:g} TFLOP/s" if peak else "n/a"
    print(f"MFU {framework} {case} {share} ({achieved / 1e12:.3g} TFLOP/s achieved, "
          f"{flops_per_sample / 1e9:.3g} GFLOP/{unit})", flush=True)
