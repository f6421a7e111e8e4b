"""Timing shared by the PyTorch sides of the benchmark scripts: one training step (zero the
gradients, the loss, backward, the optimizer step), eager or ``torch.compile``d, timed after
a warm-up. Imported as ``from torch_timing import torch_train_seconds`` (the scripts run from
``benchmarks/``)."""

import time


def torch_train_seconds(loss_fn, optimizer, pool, variant, warmup, steps, sync):
    """Seconds per training step of ``loss_fn(*batch)`` over the device-resident ``pool`` of
    batches: ``variant`` ``"eager"`` or ``"compile"`` (``torch.compile`` of the loss: forward +
    loss, backward through AOTAutograd, the optimizer step eager); ``sync`` waits for the
    device. Warns when the last loss is not finite."""
    import torch

    step_loss = torch.compile(loss_fn) if variant == "compile" else loss_fn

    def step(i):
        optimizer.zero_grad(set_to_none=True)
        loss = step_loss(*pool[i % len(pool)])
        loss.backward()
        optimizer.step()
        return loss

    start = time.perf_counter()
    for i in range(warmup):
        step(i)
    sync()
    print(f"# {variant}: {warmup} warm-up steps in {time.perf_counter() - start:.1f} s"
          + (" (compiling)" if variant == "compile" else ""), flush=True)
    start = time.perf_counter()
    for i in range(steps):
        loss = step(i)
    sync()
    seconds = (time.perf_counter() - start) / steps
    if not torch.isfinite(loss):
        print(f"# warning: the loss is {loss.item()}", flush=True)
    return seconds
