"""Side-by-side: one PatchTST training step, kerasseq on Keras 3 (JAX, jit) against Hugging
Face transformers' ``PatchTSTForPrediction`` on PyTorch (eager and ``torch.compile``).

The network (Nie et al., ICLR 2023; ``kerasseq.models.forecasting.build_patchtst``): 336
steps of C channels in, 96 out; RevIN, each channel a univariate series cut into patches of
16 with stride 8 (42 patches: the official end padding), a linear patch embedding plus learned
positions, 3 post-norm Transformer encoder layers with BatchNorm, the flatten head shared by
the channels; MSE, Adam (lr 1e-4), fp32, batch 128, random series.

Sizes (``--sizes``, comma-separated; default both), the official supervised settings:

- ``etth1``: PatchTST/42 on ETTh1/ETTh2, 7 channels, d_model 16, 4 heads, FFN 128, dropout
  0.3 (kerasseq's default size).
- ``weather``: the ETTm/Weather/Electricity size on Weather, 21 channels, d_model 128, 16
  heads, FFN 256, dropout 0.2.

Sides (the first argument):

- ``keras``: ``build_patchtst(336, 96, C, d_model=..., num_heads=..., ff_dim=...,
  dropout=...)``, ``compile(Adam(1e-4), "mse", jit_compile=True)`` on whichever backend
  ``KERAS_BACKEND`` selects (JAX on the GPU machine). Timed through ``model.fit`` (what
  ``kerasseq.training`` runs; device-resident batches from a generator) and
  ``train_on_batch`` (a host copy of the loss every step).
- ``torch``: ``PatchTSTForPrediction(PatchTSTConfig(...))`` with the same sizes, post-norm
  BatchNorm (``pre_norm=False, norm_type="batchnorm"``), learned positions
  (``positional_encoding_type="random"``), a head shared by the channels, ``scaling="std"``
  (RevIN without its affine pair), the flatten head (``pooling_type=None``), ``loss="mse"``; ``context_length=344`` so that its
  unpadded patching gives the same 42 patches as the official end padding of 336 steps (the
  extra 8 steps are data, not repeats: the same arithmetic). ``torch.optim.Adam(lr=1e-4)``;
  variants ``eager`` and ``compile`` (``torch.compile`` of forward + loss), each on a fresh
  model. Default: both on CUDA, ``eager`` only on a CPU (``--variants`` overrides).

Both print their parameter counts: 81,920 (Keras) against 81,728 at ``etth1``, 922,720
against 921,184 at ``weather``, under 0.3 % apart (the figures in RESULTS.md, 81,934 and
922,762, were measured while kerasseq's RevIN still had its affine pair, 2C, which the
official PatchTST scripts leave off). One difference is not in the count:
kerasseq's encoder adds each layer's pre-softmax scores to the next (the official
``res_attention=True``); transformers' has no residual attention (one add per layer).

Timing as ``convlstm_step.py``: ``--warmup`` (5) warm-up steps, then the mean of ``--steps``
(30) over a pool of 2 batches already on the device, one sync at the end; peak device memory
per side (``MEMORY`` lines; JAX's is process-wide, so ``run_gpu.sh`` runs one size per
process). Fairness: JAX runs fp32 matmuls at its default precision (TF32 on an H100/H200),
PyTorch in full fp32 unless ``--tf32`` (``torch.backends.cuda.matmul.allow_tf32=True``);
``--no-tf32`` runs JAX at ``highest``.

    KERAS_BACKEND=jax python benchmarks/patchtst_step.py keras
    python benchmarks/patchtst_step.py torch          # pip install torch transformers

Prints ``RESULT framework case ms/step samples/s`` (samples = windows of 336 steps × C
channels) and ``MEMORY framework case peak MiB`` lines; on the GPU machine both sides run in
one call (``benchmarks/run_gpu.sh forecast``); compare ratios (see RESULTS.md).
"""

import argparse
import time

import numpy as np
from keras_timing import keras_fit, keras_peak_memory, keras_settings, keras_train_on_batch
from torch_timing import torch_train_seconds

# size: (channels, d_model, heads, ffn, dropout)
SIZES = {"etth1": (7, 16, 4, 128, 0.3), "weather": (21, 128, 16, 256, 0.2)}
INPUT_LENGTH, HORIZON, PATCH, STRIDE, DEPTH = 336, 96, 16, 8, 3
BATCH, LEARNING_RATE = 128, 1e-4
WARMUP, STEPS, POOL = 5, 30, 2
VARIANTS = ("eager", "compile")


def case_name(size, how):
    return f"patchtst-{size}-L{INPUT_LENGTH}-H{HORIZON}-b{BATCH}-{how}"


def report(framework, case, seconds):
    print(f"RESULT {framework} {case} {seconds * 1e3:.3f} ms/step {BATCH / seconds:.1f} "
          f"samples/s", flush=True)


def report_memory(framework, case, peak_bytes, how):
    peak = "n/a" if peak_bytes is None else f"{peak_bytes / 2 ** 20:.1f}"
    print(f"MEMORY {framework} {case} peak {peak} MiB ({how})", flush=True)


def make_batches(count, channels, input_length=INPUT_LENGTH, seed=0):
    """``count`` pairs of series (B, input_length, C) and targets (B, HORIZON, C), N(0, 1)."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((BATCH, input_length, channels)).astype("float32"),
             rng.standard_normal((BATCH, HORIZON, channels)).astype("float32"))
            for _ in range(count)]


# ---------------------------------------------------------------------------------- Keras


def keras_main(sizes, warmup, steps, no_tf32, tf32, variants):
    import keras

    from kerasseq.models.forecasting import build_patchtst

    if variants or tf32:
        print("# --variants and --tf32 are for the torch side; ignored", flush=True)
    jit_compile, device = keras_settings(no_tf32)
    framework = f"keras:{keras.backend.backend()}"
    print(f"# keras {keras.__version__}, {device}, jit_compile={jit_compile}", flush=True)
    for size in sizes:
        channels, d_model, heads, ffn, dropout = SIZES[size]
        start = time.perf_counter()
        model = build_patchtst(INPUT_LENGTH, HORIZON, channels, patch_len=PATCH, stride=STRIDE,
                               d_model=d_model, num_heads=heads, depth=DEPTH, ff_dim=ffn,
                               dropout=dropout, seed=0)
        print(f"# {framework} {size}: {channels} channels, d_model {d_model}, {heads} heads, "
              f"FFN {ffn}, batch {BATCH}: {model.count_params():,} parameters", flush=True)
        model.compile(keras.optimizers.Adam(LEARNING_RATE), "mse", jit_compile=jit_compile)
        pool = [tuple(keras.ops.convert_to_tensor(a) for a in pair)
                for pair in make_batches(POOL, channels)]
        seconds = keras_fit(model, pool, warmup, steps)
        print(f"# built, compiled and ran {warmup} + {steps} fit steps in "
              f"{time.perf_counter() - start:.1f} s", flush=True)
        report(framework, case_name(size, "fit"), seconds)
        report(framework, case_name(size, "train_on_batch"),
               keras_train_on_batch(model, pool, warmup, steps))
        report_memory(framework, case_name(size, "train"), *keras_peak_memory())
        del model, pool


# -------------------------------------------------------------------------------- PyTorch


def torch_model(size):
    """transformers' PatchTSTForPrediction at ``size``, on the CPU."""
    from transformers import PatchTSTConfig, PatchTSTForPrediction

    channels, d_model, heads, ffn, dropout = SIZES[size]
    config = PatchTSTConfig(
        num_input_channels=channels, context_length=INPUT_LENGTH + STRIDE,
        prediction_length=HORIZON, patch_length=PATCH, patch_stride=STRIDE,
        num_hidden_layers=DEPTH, d_model=d_model, num_attention_heads=heads, ffn_dim=ffn,
        norm_type="batchnorm", pre_norm=False, positional_encoding_type="random",
        share_embedding=True, share_projection=True, channel_attention=False,
        use_cls_token=False, pooling_type=None, do_mask_input=False, scaling="std", loss="mse",
        attention_dropout=0.0, ff_dropout=dropout, path_dropout=0.0,
        positional_dropout=dropout, head_dropout=0.0)
    return PatchTSTForPrediction(config)


def torch_main(sizes, warmup, steps, no_tf32, tf32, variants):
    import torch

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    variants = variants or (VARIANTS if cuda else ("eager",))
    torch.backends.cuda.matmul.allow_tf32 = bool(tf32) and not no_tf32
    import transformers

    print(f"# torch {torch.__version__}, transformers {transformers.__version__}, device "
          f"{torch.cuda.get_device_name() if cuda else 'cpu'}, fp32, matmul allow_tf32="
          f"{torch.backends.cuda.matmul.allow_tf32}, variants {','.join(variants)}", flush=True)

    def time_variant(size, variant):
        """Seconds per step of a fresh model and optimizer (all freed on return)."""
        torch.manual_seed(0)
        model = torch_model(size).to(device).train()
        print(f"# torch {variant} {size}: {SIZES[size][0]} channels, batch {BATCH}: "
              f"{sum(p.numel() for p in model.parameters()):,} parameters", flush=True)
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        pool = [tuple(torch.from_numpy(a).to(device) for a in pair)
                for pair in make_batches(POOL, SIZES[size][0], INPUT_LENGTH + STRIDE)]

        def loss_fn(past, future):
            return model(past_values=past, future_values=future).loss

        return torch_train_seconds(loss_fn, optimizer, pool, variant, warmup, steps, sync)

    for size in sizes:
        for variant in variants:
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            case = case_name(size, variant)
            report("torch", case, time_variant(size, variant))
            report_memory("torch", case, torch.cuda.max_memory_allocated() if cuda else None,
                          "torch max_memory_allocated" if cuda
                          else "no device memory statistics on a CPU")
            if variant == "compile":
                torch._dynamo.reset()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("side", choices=("keras", "torch"))
    parser.add_argument("--sizes", default=",".join(SIZES),
                        help=f"comma-separated, of: {', '.join(SIZES)} (default: all)")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"timed steps (default {STEPS})")
    parser.add_argument("--warmup", type=int, default=None,
                        help=f"warm-up steps (default {WARMUP}, or --steps if fewer)")
    parser.add_argument("--variants", default=None,
                        help=f"torch side, comma-separated, of: {', '.join(VARIANTS)} (default: "
                             "both on CUDA, eager on a CPU)")
    parser.add_argument("--no-tf32", action="store_true", help="full fp32 matmuls on both sides")
    parser.add_argument("--tf32", action="store_true",
                        help="torch side: TF32 matmuls (JAX's default precision on the GPU)")
    args = parser.parse_args(argv)
    args.sizes = [size.strip() for size in args.sizes.split(",") if size.strip()]
    unknown = [size for size in args.sizes if size not in SIZES]
    if unknown or not args.sizes:
        parser.error(f"unknown sizes {unknown}; known: {', '.join(SIZES)}")
    if args.variants is not None:
        args.variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
        if not args.variants or any(v not in VARIANTS for v in args.variants):
            parser.error(f"--variants takes {', '.join(VARIANTS)}; got {args.variants}")
    if args.steps < 1:
        parser.error(f"--steps must be positive, got {args.steps}")
    if args.warmup is None:
        args.warmup = min(WARMUP, args.steps)
    if args.warmup < 1:
        parser.error(f"--warmup must be positive, got {args.warmup}")
    return args


if __name__ == "__main__":
    args = parse_args()
    (torch_main if args.side == "torch" else keras_main)(args.sizes, args.warmup, args.steps,
                                                         args.no_tf32, args.tf32, args.variants)
