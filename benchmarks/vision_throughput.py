"""Vision throughput: kerasseq's Swin-T, Swin V2-T and ViT-B/16 on JAX against timm (the GPU
peer ``../shared/gpu/peers/recurrent_conv_swin.py``, case ``swin``) and keras-hub's Swin-T.

Sides (first argument):

- ``keras``: ``kerasseq.models.swin("swin_tiny_patch4_window7_224")``,
  ``swin("swinv2_tiny_window8_256")`` and ``vit("vit_base_patch16_224")`` (1000 classes,
  timm's default drop-path rates), built under the ``mixed_bfloat16`` policy (float32
  weights, bf16 compute: what ``torch.autocast`` does), batch 128 of 224 x 224 images (256
  for Swin V2-T), channels-last.
- ``kerashub``: ``keras_hub.models.SwinTransformerBackbone`` with Swin-T's arguments
  (``image_shape=(224, 224, 3), embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12,
  24), window_size=7, patch_size=4, drop_path=0.1``) + average pooling + a Dense head to
  1000 classes: timm's head. Same settings and timing. keras-hub needs no TensorFlow on
  JAX (it needs ``regex`` and ``tokenizers``, which transformers brings); if it cannot be
  imported or built, its RESULT lines say ``skipped`` and why.
- ``torch``: runs the peer itself, ``recurrent_conv_swin.py torch swin`` (timm, bf16
  autocast, batch 128, on CUDA), from ``.whl/`` (where ``run_gpu.sh`` expects it) or
  ``../shared/gpu/peers/``, so its figures come from the same machine and run.
- ``flops``: prints the analytic forward FLOPs per image of each model (no model built),
  e.g. to turn the peer's img/s into MFU.

Both Keras sides time the model's ``stateless_call`` under ``jax.jit`` (what Keras' JAX
trainer compiles, without its per-step Python work): inference is the forward pass with
``training=False``; training is forward + backward (``jax.value_and_grad`` of sparse
categorical cross-entropy on the logits) + an AdamW step (``optimizer.stateless_apply``,
learning rate 1e-3 and weight decay 0.01: ``torch.optim.AdamW``'s defaults, as the peer),
with the parameters and optimizer state donated to the step. As the peer: 5 warm-up
steps, then the mean of ``--steps`` (30) steps; outputs stay on the device, and one small
host copy at the end (a logit, the loss) waits for them.

MFU (model FLOPs utilisation) = achieved FLOP/s / the GPU's peak dense bf16 FLOP/s, with
the model's FLOPs counted analytically (2 x the multiply-adds of its matmuls and
convolutions: patch embedding, qkv, attention scores and values, projection, MLP, patch
merging, head; norms, softmax and Swin V2's small position-bias MLP not counted) and a
training step counted as 3 x the forward pass. Peak: 989 TFLOP/s for the H100 SXM and the
H200 (NVIDIA's dense bf16 figure), or ``--peak-tflops``; the assumption is printed. XLA's
own count (``compiled.cost_analysis()["flops"]``, which also counts elementwise work) is
printed beside it as a check where the backend gives one.

    KERAS_BACKEND=jax python benchmarks/vision_throughput.py keras
    KERAS_BACKEND=jax python benchmarks/vision_throughput.py kerashub
    python benchmarks/vision_throughput.py torch               # the peer: CUDA + timm
    KERAS_BACKEND=jax python benchmarks/vision_throughput.py keras --small   # CPU smoke test

``--small`` swaps in tiny configurations (batch 2, 64 x 64 images, two stages / two blocks)
for a smoke test; its times mean nothing. ``--models`` picks models (comma-separated, of
the names above). Prints ``RESULT framework:backend case ms/step samples/s`` lines in the
peer's format and case names (``swin_tiny_patch4_window7_224-infer-bf16-b128``) and an
``MFU`` line after each; run all sides in one session on one machine
(``benchmarks/run_gpu.sh``) and compare ratios (see RESULTS.md).
"""

import argparse
import inspect
import math
import os
import sys
import time

import numpy as np

from mfu import peak_flops, report_mfu  # noqa: E402  (benchmarks/ is the script's folder)

MODELS = ("swin_tiny_patch4_window7_224", "swinv2_tiny_window8_256", "vit_base_patch16_224")
KERASHUB_MODELS = ("swin_tiny_patch4_window7_224",)
WARMUP, STEPS, BATCH = 5, 30, 128
# Tiny stand-ins for the smoke test: same code paths, two stages (Swin) or two blocks (ViT).
SMALL_BATCH = 2
SMALL_SWIN = dict(img_size=64, embed_dim=16, depths=(2, 2), num_heads=(1, 2), window_size=4,
                  num_classes=10)
SMALL = {
    "swin_tiny_patch4_window7_224": SMALL_SWIN,
    "swinv2_tiny_window8_256": dict(SMALL_SWIN, pretrained_window_sizes=(0, 0)),
    "vit_base_patch16_224": dict(img_size=64, patch_size=16, embed_dim=32, depth=2,
                                 num_heads=2, num_classes=10),
}
# Dense bf16 peak (NVIDIA's data sheets, without sparsity), by a substring of device_kind.
def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def model_settings(name, small):
    """(family, the builder's full keyword arguments) of model ``name``: kerasseq's named
    configuration over the builder's defaults, with the ``--small`` overrides."""
    from kerasseq.models import SWIN_CONFIGS, VIT_CONFIGS, build_swin, build_swinv2, build_vit

    overrides = SMALL[name] if small else {}
    if name in SWIN_CONFIGS:
        config = dict(SWIN_CONFIGS[name])
        family = config.pop("family")
        builder = build_swin if family == "swin" else build_swinv2
    else:
        family, config, builder = "vit", dict(VIT_CONFIGS[name]), build_vit
    defaults = {k: p.default for k, p in inspect.signature(builder).parameters.items()}
    return family, {**defaults, **config, **overrides}


def forward_flops(family, args):
    """Forward FLOPs per image (2 x multiply-adds) of a kerasseq Swin / Swin V2 / ViT built
    with the keyword arguments ``args`` (see the module docstring for what is counted)."""
    (height, width), (ph, pw) = _pair(args["img_size"]), _pair(args["patch_size"])
    h, w, channels = height // ph, width // pw, args["in_chans"]
    if family == "vit":
        d, tokens = args["embed_dim"], h * w + int(args.get("class_token", True))
        hidden = int(d * args["mlp_ratio"])
        macs = h * w * ph * pw * channels * d  # patch embedding
        # qkv + proj (4 d^2), MLP (2 d hidden) per token; QK^T and AV (2 tokens d) per token
        macs += args["depth"] * tokens * (4 * d * d + 2 * d * hidden + 2 * tokens * d)
        return 2 * (macs + d * args["num_classes"])
    c = args["embed_dim"]
    macs = h * w * ph * pw * channels * c  # patch embedding
    for stage, depth in enumerate(args["depths"]):
        if stage:  # patch merging: a Linear 4c -> 2c over the (h/2)(w/2) merged tokens
            macs += (h // 2) * (w // 2) * 4 * c * 2 * c
            h, w, c = h // 2, w // 2, 2 * c
        wh, ww = (min(r, s) for r, s in zip((h, w), _pair(args["window_size"])))  # timm's clamp
        tokens = math.ceil(h / wh) * wh * math.ceil(w / ww) * ww  # padded to whole windows
        hidden = int(c * args["mlp_ratio"])
        macs += depth * (tokens * (4 * c * c + 2 * c * hidden) + 2 * tokens * wh * ww * c)
    return 2 * (macs + c * args["num_classes"])


def report(framework, case, seconds, samples):
    """The peer's line: ``RESULT framework case ms/step samples/s``."""
    print(f"RESULT {framework} {case} {seconds * 1e3:.3f} ms/step {samples / seconds:.1f} "
          f"samples/s", flush=True)


def xla_flops(compiled):
    """XLA's FLOP count of a compiled executable, or None where the backend gives none."""
    try:
        cost = compiled.cost_analysis()
    except Exception:  # not every backend / version implements it
        return None
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else None
    return float(cost["flops"]) if cost and cost.get("flops", 0) > 0 else None


# ---------------------------------------------------------------------------------- Keras


def build_kerasseq(name, small):
    from kerasseq.models import swin, vit

    family, _ = model_settings(name, small)
    overrides = SMALL[name] if small else {}
    return swin(name, **overrides) if family != "vit" else vit(name, **overrides)


def build_kerashub(name, small):
    import keras
    import keras_hub

    family, args = model_settings(name, small)
    if family != "swin":
        raise ValueError(f"keras-hub has no {name}")
    size = _pair(args["img_size"])
    backbone = keras_hub.models.SwinTransformerBackbone(
        image_shape=(*size, args["in_chans"]), embed_dim=args["embed_dim"],
        depths=tuple(args["depths"]), num_heads=tuple(args["num_heads"]),
        window_size=args["window_size"], patch_size=args["patch_size"],
        mlp_ratio=args["mlp_ratio"], qkv_bias=args["qkv_bias"],
        drop_path=args["drop_path_rate"])
    x = keras.layers.GlobalAveragePooling1D(name="pool")(backbone.output)  # (batch, C)
    logits = keras.layers.Dense(args["num_classes"], name="head")(x)  # (batch, classes)
    return keras.Model(backbone.input, logits, name=f"kerashub_{name}")


def time_model(framework, name, build, small, steps, peak):
    """Build model ``name`` with ``build`` under mixed_bfloat16 and print its inference and
    training RESULT and MFU lines."""
    import jax
    import keras

    family, args = model_settings(name, small)
    batch = SMALL_BATCH if small else BATCH
    height, width = _pair(args["img_size"])
    flops = forward_flops(family, args)
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build(name, small)
    finally:
        keras.config.set_dtype_policy("float32")
    if model.compute_dtype != "bfloat16":
        raise RuntimeError(f"{name}: expected bf16 compute, got {model.compute_dtype}")
    rng = np.random.default_rng(0)
    x = jax.device_put(rng.standard_normal((batch, height, width, args["in_chans"]), "float32"))
    y = jax.device_put(rng.integers(0, args["num_classes"], batch).astype("int32"))
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    print(f"# {framework} {name}: {model.count_params() / 1e6:.2f} M parameters, "
          f"{flops / 1e9:.3f} GFLOP/image forward (analytic), batch {batch}, "
          f"{height}x{width}", flush=True)

    def forward(trainable, non_trainable, x):
        return model.stateless_call(trainable, non_trainable, x, training=False)[0]

    start = time.perf_counter()
    infer = jax.jit(forward).lower(trainable, non_trainable, x).compile()
    counted = xla_flops(infer)
    print(f"# compiled inference in {time.perf_counter() - start:.1f} s; XLA counts "
          + (f"{counted / batch / 1e9:.3f} GFLOP/image" if counted else "n/a"), flush=True)
    for _ in range(WARMUP):
        out = infer(trainable, non_trainable, x)
    np.asarray(out[:1, :1])  # a small host copy: waits for the device
    start = time.perf_counter()
    for _ in range(steps):
        out = infer(trainable, non_trainable, x)
    np.asarray(out[:1, :1])
    seconds = (time.perf_counter() - start) / steps
    case = f"{name}-infer-bf16-b{batch}"
    report(framework, case, seconds, batch)
    report_mfu(framework, case, seconds, batch, flops, peak)
    del out, infer

    # torch.optim.AdamW's defaults (lr 1e-3, weight decay 0.01), as the peer's step.
    optimizer = keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.01)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def train_step(trainable, non_trainable, optimizer_variables, x, y):
        def loss_of(trainable, non_trainable):
            logits, non_trainable = model.stateless_call(trainable, non_trainable, x,
                                                         training=True)
            return loss_fn(y, logits), non_trainable

        (loss, non_trainable), grads = jax.value_and_grad(loss_of, has_aux=True)(
            trainable, non_trainable)
        trainable, optimizer_variables = optimizer.stateless_apply(
            optimizer_variables, grads, trainable)
        return trainable, non_trainable, optimizer_variables, loss

    state = (trainable, non_trainable, [v.value for v in optimizer.variables])
    start = time.perf_counter()
    step = jax.jit(train_step, donate_argnums=(0, 1, 2)).lower(*state, x, y).compile()
    counted = xla_flops(step)
    print(f"# compiled train step in {time.perf_counter() - start:.1f} s; XLA counts "
          + (f"{counted / batch / 1e9:.3f} GFLOP/image" if counted else "n/a"), flush=True)
    del trainable, non_trainable  # donated from here on
    for _ in range(WARMUP):
        *state, loss = step(*state, x, y)
    float(loss)
    start = time.perf_counter()
    for _ in range(steps):
        *state, loss = step(*state, x, y)
    last = float(loss)
    seconds = (time.perf_counter() - start) / steps
    if not math.isfinite(last):
        print(f"# warning: {name} training loss is {last}", flush=True)
    case = f"{name}-train-bf16-b{batch}"
    report(framework, case, seconds, batch)
    report_mfu(framework, case, seconds, batch, 3 * flops, peak)
    del state, step, model, optimizer
    keras.backend.clear_session()
    jax.clear_caches()


def keras_main(side, models, steps, small, peak_tflops):
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit("The Keras sides time jax.jit functions: set KERAS_BACKEND=jax.")
    import jax

    framework = f"{side}:jax"
    device = jax.devices()[0]
    kind = getattr(device, "device_kind", device.platform)
    peak, assumption = peak_flops(kind, peak_tflops)
    print(f"# {framework}: keras {keras.__version__}, jax {jax.__version__}, device {kind} "
          f"({device.platform}); MFU: {assumption}; training = 3 x forward FLOPs"
          + ("; --small: smoke test, times mean nothing" if small else ""), flush=True)
    build = build_kerasseq
    if side == "kerashub":
        models = [m for m in models if m in KERASHUB_MODELS]
        try:
            import keras_hub  # noqa: F401  (needs regex and tokenizers, no TensorFlow)

            print(f"# keras-hub {keras_hub.__version__}", flush=True)
            build = build_kerashub
        except Exception as error:  # noqa: BLE001  (report any import failure, then stop)
            for name in models:
                print(f"RESULT {framework} {name} skipped: keras_hub does not import "
                      f"({type(error).__name__}: {error})", flush=True)
            return
    for name in models:
        try:
            time_model(framework, name, build, small, steps, peak)
        except Exception as error:  # noqa: BLE001  (one model's failure must not hide the rest)
            print(f"RESULT {framework} {name} skipped: {type(error).__name__}: {error}",
                  flush=True)
            if not isinstance(error, (ImportError, ValueError)):
                import traceback

                traceback.print_exc()


# -------------------------------------------------------------------------------- PyTorch


def torch_main():
    """Run the peer (timm, CUDA) in place of this process: its lines are the torch side."""
    import importlib.util

    import torch

    if importlib.util.find_spec("timm") is None or not torch.cuda.is_available():
        raise SystemExit("The torch side is the GPU peer: it needs CUDA and timm (it has no "
                         "--small mode).")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for peer in (os.path.join(root, ".whl", "recurrent_conv_swin.py"),
                 os.path.join(root, "..", "shared", "gpu", "peers", "recurrent_conv_swin.py")):
        if os.path.exists(peer):
            sys.stdout.flush()
            os.execv(sys.executable, [sys.executable, peer, "torch", "swin"])
    raise SystemExit("recurrent_conv_swin.py not found in .whl/ or ../shared/gpu/peers/")


def flops_main(models, small):
    for name in models:
        family, args = model_settings(name, small)
        flops = forward_flops(family, args)
        print(f"FLOPS {name} {flops / 1e9:.3f} GFLOP/image forward, {3 * flops / 1e9:.3f} "
              f"train (img {args['img_size']})", flush=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("side", choices=("keras", "kerashub", "torch", "flops"))
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, of: {', '.join(MODELS)} (default: all; "
                             "kerashub runs only Swin-T)")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"timed steps after {WARMUP} warm-up steps (default {STEPS}; "
                             "3 with --small)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's peak dense bf16 TFLOP/s for MFU (default: 989 on "
                             "an H100 SXM or H200, none elsewhere)")
    parser.add_argument("--small", action="store_true", help="tiny shapes: a smoke test")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown or not args.models:
        parser.error(f"unknown models {unknown}; known: {', '.join(MODELS)}")
    if args.steps is None:
        args.steps = 3 if args.small else STEPS
    if args.steps < 1:
        parser.error(f"--steps must be positive, got {args.steps}")
    if args.peak_tflops is not None and args.peak_tflops <= 0:
        parser.error(f"--peak-tflops must be positive, got {args.peak_tflops}")
    return args


if __name__ == "__main__":
    args = parse_args()
    if args.side == "torch":
        torch_main()
    elif args.side == "flops":
        flops_main(args.models, args.small)
    else:
        keras_main(args.side, args.models, args.steps, args.small, args.peak_tflops)
