"""Side-by-side: one training step of Shi et al.'s ConvLSTM encoder-forecaster, kerasseq on
Keras 3 (JAX, jit) against the same network written in PyTorch the usual (OpenSTL) way, eager
and ``torch.compile``.

The network (Shi et al., NIPS 2015; ``kerasseq.models.nowcasting.build_convlstm_forecaster``):
J = 10 frames of 64 x 64 x 1 in, K = 10 out; 4 x 4 patches folded into channels (64x64x1 ->
16x16x16); an encoder of 3 stacked ConvLSTM layers (5 x 5 kernels, "same" padding) over the J
frames; a forecaster of 3 ConvLSTM layers of the same sizes over K zero frames (1 channel),
layer i starting from encoder layer i's last hidden and cell states; the 3 forecaster hidden
sequences concatenated -> a 1 x 1 convolution to 16 channels -> unfolded to 64 x 64 x 1 ->
sigmoid; binary cross-entropy, Adam (lr 1e-3), fp32, batch 16, random frames and targets
uniform in [0, 1].

Sizes (``--sizes``, comma-separated; default both):

- ``small``: filters (32, 16, 16), kerasseq's default for CPU training.
- ``paper``: filters (128, 64, 64), the paper's best Moving MNIST network (Table 1).

Sides (the first argument):

- ``keras``: ``build_convlstm_forecaster(10, 10, (64, 64, 1), filters, kernel_size=5,
  patch_size=4, output_activation="sigmoid")`` (``keras.layers.ConvLSTM2D``: separate input
  and recurrent kernels, one bias), ``compile(Adam(1e-3), BinaryCrossentropy(),
  jit_compile=True)`` on whichever backend ``KERAS_BACKEND`` selects (JAX on the GPU
  machine). On TensorFlow without a GPU, ``jit_compile=False`` (XLA's ConvLSTM on a CPU is
  about 100x slower); on Keras' torch backend, ``False`` too (Keras' own ``auto`` there).
  Timed through ``model.fit`` (what ``kerasseq.training`` runs: steps dispatched ahead, the
  last one awaited; the data is a generator yielding device-resident batches, so no
  host->device copy is timed) and ``train_on_batch`` (a host copy of the loss every step: the
  peer's Keras timing). ``--layer kerasseq`` builds it with ``recurrent_layer="kerasseq"``
  (``kerasseq.layers.ConvLSTM``: the same weights and outputs, the input convolution of all
  frames before an unrolled time loop, none in the forecaster's first layer); its cases are
  named ``...-kerasseq-fit`` and ``...-kerasseq-train_on_batch``.
- ``torch``: a ``ConvLSTMCell`` (one ``Conv2d`` over ``cat([x, h])`` to the 4 gates i, f, g,
  o, with bias: the same parameter count as ``ConvLSTM2D``), Python loops over layers and
  time, ``pixel_unshuffle``/``pixel_shuffle`` for the patches, zero frames into the
  forecaster, a 1 x 1 ``Conv2d`` on the concatenated hidden states, ``sigmoid`` +
  ``binary_cross_entropy`` (as the Keras model), ``torch.optim.Adam(lr=1e-3)``; variants
  ``eager`` and ``compile`` (``torch.compile`` of forward + loss, default mode; backward
  through AOTAutograd; the optimizer step eager), each on a fresh model and optimizer.
  Default: both on CUDA, ``eager`` only on a CPU (``--variants`` overrides).

Each side checks its parameter count against the formula sum_i 4 f_i (k^2 (c_i + f_i) + 1)
over the 6 ConvLSTM layers plus the 1 x 1 output convolution, and stops if they differ, so the
two sides are the same size (the count is printed on both).

Timing: ``--warmup`` (5, or ``--steps`` if fewer) warm-up steps, then the mean of ``--steps``
(30) steps over a pool of 2 batches already on the device, one device sync at the end (``fit``:
it awaits its last step; ``train_on_batch``: every step). Peak device memory after the timed
steps: JAX ``memory_stats()["peak_bytes_in_use"]`` (since the process started: JAX cannot
reset it, so run one size per process for a per-size figure, as ``run_gpu.sh`` does),
TensorFlow ``get_memory_info("GPU:0")["peak"]``, PyTorch ``max_memory_allocated`` (reset
before each variant); not available on a CPU.

Fairness caveats (see RESULTS.md): fp32 convolutions run in TF32 on an H100/H200 by default
on both sides (JAX's default precision; PyTorch's ``cudnn.allow_tf32=True``); the peer
``recurrent_conv_swin.py`` turns TF32 off on its PyTorch side only. ``--no-tf32`` runs both
sides in full fp32 (JAX ``jax_default_matmul_precision="highest"``, PyTorch ``allow_tf32``
off). Keras on JAX lays out NHWC and lets XLA pick, PyTorch runs NCHW. Adam's epsilon
defaults differ (1e-7 Keras, 1e-8 PyTorch), which changes no timing. pixel_unshuffle orders a
patch's channels (channel, row, column), SpaceToDepth (row, column, channel): the same for
these 1-channel frames.

    KERAS_BACKEND=jax python benchmarks/convlstm_step.py keras
    KERAS_BACKEND=jax python benchmarks/convlstm_step.py keras --layer kerasseq
    python benchmarks/convlstm_step.py torch          # pip install torch==2.13.0
    KERAS_BACKEND=tensorflow python benchmarks/convlstm_step.py keras --steps 2 --sizes small

The last is a CPU smoke test: its times mean nothing (on a CPU shared with other work, run
the torch side with ``OMP_NUM_THREADS=1``: OpenMP threads spin-waiting on busy cores made it
17x slower here). Prints ``RESULT framework case ms/step
samples/s`` lines (samples = sequences of 10 frames in and 10 out) and ``MEMORY framework
case peak MiB`` lines; run both sides in one session on one machine (``benchmarks/run_gpu.sh
nowcast``, with the one-layer ConvLSTM peer) and compare ratios (see RESULTS.md).
"""

import argparse
import time

import numpy as np
from keras_timing import keras_fit, keras_peak_memory, keras_settings, keras_train_on_batch
from torch_timing import torch_train_seconds

SIZES = {"small": (32, 16, 16), "paper": (128, 64, 64)}
INPUT_FRAMES, OUTPUT_FRAMES, FRAME = 10, 10, (64, 64, 1)
KERNEL, PATCH, BATCH, LEARNING_RATE = 5, 4, 16, 1e-3
WARMUP, STEPS, POOL = 5, 30, 2
VARIANTS = ("eager", "compile")
LAYERS = {"keras": "keras.layers.ConvLSTM2D", "kerasseq": "kerasseq.layers.ConvLSTM"}


def expected_parameters(filters):
    """The count both sides must have: each ConvLSTM layer 4f(k²(c + f) + 1) (input kernel,
    recurrent kernel, one bias), then the 1×1 output convolution with its bias."""
    height, width, channels = FRAME
    patch_channels = channels * PATCH ** 2
    total = 0
    for inputs in (patch_channels, 1):  # the encoder sees patches, the forecaster zero frames
        for f in filters:
            total += 4 * f * (KERNEL ** 2 * (inputs + f) + 1)
            inputs = f
    return total + sum(filters) * patch_channels + patch_channels


def case_name(size, filters, how):
    return f"forecaster-{size}-{'.'.join(map(str, filters))}-b{BATCH}-{how}"


def describe(framework, size, filters, count):
    expected = expected_parameters(filters)
    print(f"# {framework} {size}: filters {filters}, {KERNEL}x{KERNEL} kernels, patch {PATCH}, "
          f"{INPUT_FRAMES}->{OUTPUT_FRAMES} frames of {FRAME}, batch {BATCH}: {count:,} "
          f"parameters (formula: {expected:,})", flush=True)
    if count != expected:
        raise SystemExit(f"{framework} {size}: {count} parameters, the formula gives {expected}: "
                         "the two sides would not be the same network")


def report(framework, case, seconds):
    print(f"RESULT {framework} {case} {seconds * 1e3:.3f} ms/step {BATCH / seconds:.1f} "
          f"samples/s", flush=True)


def report_memory(framework, case, peak_bytes, how):
    peak = "n/a" if peak_bytes is None else f"{peak_bytes / 2 ** 20:.1f}"
    print(f"MEMORY {framework} {case} peak {peak} MiB ({how})", flush=True)


def make_batches(count, seed=0):
    """``count`` pairs of frames (B, J, H, W, C) and targets (B, K, H, W, C), float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    return [(rng.uniform(size=(BATCH, INPUT_FRAMES, *FRAME)).astype("float32"),
             rng.uniform(size=(BATCH, OUTPUT_FRAMES, *FRAME)).astype("float32"))
            for _ in range(count)]


# ---------------------------------------------------------------------------------- Keras


def keras_main(sizes, warmup, steps, no_tf32, variants, layer="keras"):
    import keras

    from kerasseq.models.nowcasting import build_convlstm_forecaster

    if variants:
        print("# --variants is for the torch side; ignored", flush=True)
    # XLA's ConvLSTM on a CPU is ~100x slower than TensorFlow's own kernels.
    jit_compile, device = keras_settings(no_tf32, jit_on_tensorflow_cpu=False)
    framework = f"keras:{keras.backend.backend()}"
    print(f"# keras {keras.__version__}, {device}, jit_compile={jit_compile}, recurrent layer "
          f"{LAYERS[layer]}", flush=True)
    tag = "" if layer == "keras" else f"{layer}-"  # the default's case names stay as they were
    for size in sizes:
        filters = SIZES[size]
        start = time.perf_counter()
        model = build_convlstm_forecaster(INPUT_FRAMES, OUTPUT_FRAMES, FRAME, filters=filters,
                                          kernel_size=KERNEL, patch_size=PATCH,
                                          output_activation="sigmoid", recurrent_layer=layer)
        describe(framework, size, filters, model.count_params())
        model.compile(keras.optimizers.Adam(LEARNING_RATE), keras.losses.BinaryCrossentropy(),
                      jit_compile=jit_compile)
        pool = [tuple(keras.ops.convert_to_tensor(a) for a in pair)  # on the device
                for pair in make_batches(POOL)]
        seconds = keras_fit(model, pool, warmup, steps)
        print(f"# built, compiled and ran {warmup} + {steps} fit steps in "
              f"{time.perf_counter() - start:.1f} s", flush=True)
        report(framework, case_name(size, filters, f"{tag}fit"), seconds)
        report(framework, case_name(size, filters, f"{tag}train_on_batch"),
               keras_train_on_batch(model, pool, warmup, steps))
        report_memory(framework, case_name(size, filters, f"{tag}train"), *keras_peak_memory())
        del model, pool


# -------------------------------------------------------------------------------- PyTorch


def torch_model(filters):
    """The PyTorch encoder-forecaster with ``filters`` per layer, on the CPU."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class ConvLSTMCell(nn.Module):
        """One convolution over cat([x, h]) to the gates i, f, g, o (Keras' gate order)."""

        def __init__(self, in_channels, filters, kernel_size):
            super().__init__()
            self.filters = filters
            self.conv = nn.Conv2d(in_channels + filters, 4 * filters, kernel_size,
                                  padding=kernel_size // 2)

        def forward(self, x, h, c):  # (B, C, h, w), (B, F, h, w), (B, F, h, w)
            i, f, g, o = torch.split(self.conv(torch.cat([x, h], 1)), self.filters, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c), c

    class EncoderForecaster(nn.Module):
        def __init__(self, filters):
            super().__init__()
            channels = FRAME[2] * PATCH ** 2
            self.encoder = nn.ModuleList(
                ConvLSTMCell(c, f, KERNEL) for c, f in zip((channels, *filters[:-1]), filters))
            self.forecaster = nn.ModuleList(
                ConvLSTMCell(c, f, KERNEL) for c, f in zip((1, *filters[:-1]), filters))
            self.output = nn.Conv2d(sum(filters), channels, 1)

        def forward(self, frames):  # (B, J, C, H, W) -> logits (B, K, C, H, W)
            batch, time_steps = frames.shape[:2]
            x = F.pixel_unshuffle(frames.flatten(0, 1), PATCH)  # (B·J, C·b², h, w)
            x = x.unflatten(0, (batch, time_steps))
            inputs, states = list(x.unbind(1)), []
            for cell in self.encoder:
                h = x.new_zeros(batch, cell.filters, *x.shape[-2:])
                c = torch.zeros_like(h)
                outputs = []
                for x_t in inputs:
                    h, c = cell(x_t, h, c)
                    outputs.append(h)
                inputs = outputs
                states.append((h, c))
            inputs = [x.new_zeros(batch, 1, *x.shape[-2:])] * OUTPUT_FRAMES  # no observations
            hidden = []
            for cell, (h, c) in zip(self.forecaster, states):
                outputs = []
                for x_t in inputs:
                    h, c = cell(x_t, h, c)
                    outputs.append(h)
                inputs = outputs
                hidden.append(torch.stack(outputs, 1))  # (B, K, F_i, h, w)
            y = self.output(torch.cat(hidden, 2).flatten(0, 1))  # (B·K, C·b², h, w)
            return F.pixel_shuffle(y, PATCH).unflatten(0, (batch, OUTPUT_FRAMES))

    return EncoderForecaster(filters)


def torch_main(sizes, warmup, steps, no_tf32, variants):
    import torch
    import torch.nn.functional as F

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    variants = variants or (VARIANTS if cuda else ("eager",))
    if no_tf32:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    print(f"# torch {torch.__version__}, device {torch.cuda.get_device_name() if cuda else 'cpu'}"
          f", fp32, matmul allow_tf32={torch.backends.cuda.matmul.allow_tf32}, cudnn "
          f"allow_tf32={torch.backends.cudnn.allow_tf32}, variants {','.join(variants)}",
          flush=True)

    pool = [tuple(torch.from_numpy(a).permute(0, 1, 4, 2, 3).contiguous().to(device)
                  for a in pair) for pair in make_batches(POOL)]  # (B, T, C, H, W)

    def time_variant(size, filters, variant):
        """Seconds per step of a fresh model and optimizer (all freed on return)."""
        torch.manual_seed(0)
        model = torch_model(filters).to(device)
        describe(f"torch {variant}", size, filters, sum(p.numel() for p in model.parameters()))
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)

        def loss_fn(frames, targets):
            return F.binary_cross_entropy(torch.sigmoid(model(frames)), targets)

        return torch_train_seconds(loss_fn, optimizer, pool, variant, warmup, steps, sync)

    for size in sizes:
        filters = SIZES[size]
        for variant in variants:
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            case = case_name(size, filters, variant)
            report("torch", case, time_variant(size, filters, variant))
            report_memory("torch", case, torch.cuda.max_memory_allocated() if cuda else None,
                          "torch max_memory_allocated" if cuda
                          else "no device memory statistics on a CPU")
            if variant == "compile":
                torch._dynamo.reset()  # its caches hold the model: free it for the next one


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("side", choices=("keras", "torch"))
    parser.add_argument("--sizes", default=",".join(SIZES),
                        help=f"comma-separated, of: {', '.join(SIZES)} (default: all)")
    parser.add_argument("--steps", type=int, default=STEPS,
                        help=f"timed steps (default {STEPS}; a few on a CPU)")
    parser.add_argument("--warmup", type=int, default=None,
                        help=f"warm-up steps (default {WARMUP}, or --steps if fewer)")
    parser.add_argument("--variants", default=None,
                        help=f"torch side, comma-separated, of: {', '.join(VARIANTS)} (default: "
                             "both on CUDA, eager on a CPU)")
    parser.add_argument("--layer", choices=tuple(LAYERS), default="keras",
                        help="keras side: the ConvLSTM layer, keras (ConvLSTM2D, default) or "
                             "kerasseq (kerasseq.layers.ConvLSTM)")
    parser.add_argument("--no-tf32", action="store_true",
                        help="full fp32 convolutions on both sides (default: each framework's)")
    args = parser.parse_args(argv)
    args.sizes = [size.strip() for size in args.sizes.split(",") if size.strip()]
    unknown = [size for size in args.sizes if size not in SIZES]
    if unknown or not args.sizes:
        parser.error(f"unknown sizes {unknown}; known: {', '.join(SIZES)}")
    if args.variants is not None:
        args.variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
        if not args.variants or any(v not in VARIANTS for v in args.variants):
            parser.error(f"--variants takes {', '.join(VARIANTS)}; got {args.variants}")
    if args.side == "torch" and args.layer != "keras":
        parser.error("--layer is for the keras side")
    if args.steps < 1:
        parser.error(f"--steps must be positive, got {args.steps}")
    if args.warmup is None:
        args.warmup = min(WARMUP, args.steps)
    if args.warmup < 1:
        parser.error(f"--warmup must be positive, got {args.warmup}")
    return args


if __name__ == "__main__":
    args = parse_args()
    if args.side == "torch":
        torch_main(args.sizes, args.warmup, args.steps, args.no_tf32, args.variants)
    else:
        keras_main(args.sizes, args.warmup, args.steps, args.no_tf32, args.variants, args.layer)
