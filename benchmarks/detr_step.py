"""Side-by-side: one DETR training step, kerasseq on Keras 3 / JAX (jit) against Hugging Face
transformers' ``DetrForObjectDetection`` on PyTorch (eager), and the share of the step spent
in the Hungarian matching (SciPy on the host, on both sides).

A training step is forward + DETR's set loss with auxiliary losses on every decoder layer
(each layer matched on its own: L matchings per step) + backward + AdamW (lr 1e-4, weight
decay 1e-4, gradient norm clipped to 0.1 over all parameters, as DETR's recipe), fp32, random
weights, random images and 1 to ``max_targets`` random boxes per image (uniform cx, cy, w, h
inside the image; class ids uniform).

Cases (``--cases``, comma-separated; default all):

- ``paper``: DETR's configuration (Carion et al. 2020): a ResNet-50 backbone, d_model 256, 8
  heads, 6+6 layers, FFN 2048, 100 queries, 91 classes, dropout 0.1, batch 8 of 512 x 512 x 3,
  1-10 boxes per image. Keras: ``keras.applications.ResNet50(include_top=False,
  weights=None)`` behind ``keras.applications.resnet.preprocess_input``, wrapped as a
  ``keras.Model`` and passed to ``kerasseq.models.detr.build_detr(backbone=...)``;
  frozen as DETR and transformers freeze it (every BatchNormalization ``trainable=False``,
  i.e. inference-mode statistics like ``DetrFrozenBatchNorm2d``, and the stem and first
  stage, ``conv1_*`` and ``conv2_*``, not trained), loss ``kerasseq.losses.DETRLoss(91)``.
  PyTorch: ``DetrForObjectDetection(DetrConfig(use_timm_backbone=True, backbone="resnet50",
  use_pretrained_backbone=False, auxiliary_loss=True, ...))`` (timm's ResNet-50 at random
  init, nothing downloaded; ``DetrFrozenBatchNorm2d``; stem and first stage frozen here
  explicitly, as DETR does: transformers 4.x does it itself, 5.x no longer does for timm
  backbones), called with ``labels=[{"class_labels", "boxes"}]`` so its own
  ``HungarianMatcher`` and loss run.
- ``digits``: kerasseq's CPU-sized configuration (the multi-digit MNIST task): kerasseq's
  small ResNet (``backbone="resnet"``: basic blocks 32-64-128, output stride 16, trainable
  BatchNormalization), 128 x 128 x 1, d_model 128, 8 heads, 3+3 layers, FFN 512, 20 queries,
  10 classes, batch 32, 1-6 boxes. PyTorch: the same Transformer sizes on the smallest
  ResNet transformers builds offline, timm's ResNet-18 (``backbone="resnet18"``,
  ``num_channels=1``) with ``dilation=True`` (output stride 16, so both encoders see the
  same 8 x 8 = 64 tokens), with transformers' frozen BatchNorm and frozen stem and first
  stage: **not the same backbone** (ResNet-18 is wider: 64-128-256-512 channels), so compare
  this case's ratio with care; the Transformer and the loss are the same sizes.
- ``matching-paper``, ``matching-digits`` (``matching`` = both): the share of the matching in
  that configuration's step. Each side times its step as is and with the matching replaced
  by a fixed assignment (query i <- target i, valid because queries >= targets) in two ways:

  - ``fixed-host``: only the host solver replaced (Keras: ``kerasseq.losses.matching.
    _assign_on_host``, so the ``jax.pure_callback`` with its device->host copy of the cost
    matrices, its wait and its host->device copy remain; PyTorch: the
    ``linear_sum_assignment`` that transformers' matcher calls, so its cost matrix and
    ``.cpu()`` copy remain). as is - fixed-host = the SciPy solve inside the step.
  - ``fixed-device``: the whole matching replaced by an assignment made on the device
    (Keras: ``kerasseq.losses.detr.linear_sum_assignment`` by a keras.ops function of the
    target counts, so no callback; the cost matrix becomes dead code that XLA drops;
    PyTorch: ``HungarianMatcher.forward`` by one returning ``arange`` index pairs from the
    target sizes, on the CPU as transformers' are). as is - fixed-device = all the matching
    costs the step: cost matrix, host round trip and its stall, SciPy.

  The Keras side also times the host SciPy alone (``scipy``: ``_assign_on_host``, the
  float64 conversion and ``scipy.optimize.linear_sum_assignment`` per image, over random
  uniform cost matrices of the step's shapes (batch, queries, max_targets), L calls per step)
  and the callback alone (``callback``: ``kerasseq.losses.matching.linear_sum_assignment``
  under ``jax.jit`` on device-resident costs, L calls per step). ``SHARE`` lines give each
  difference in ms and in % of the as-is step.

Timing: 5 warm-up steps, then the mean of ``--steps`` (30) steps over a pool of 2 batches
already on the device, one device sync at the end. Keras: ``model.fit`` (what
``kerasseq.training`` runs: steps dispatched ahead, the last one awaited; the data is a
generator yielding the device-resident batches, so no host->device image copy is timed, as
on the PyTorch side) and ``train_on_batch`` (a host copy of the loss every step); the
matching variants are timed with ``fit`` only, each on the same model recompiled with the
patched function. PyTorch: eager fp32 ``zero_grad``, ``model(pixel_values, labels=...)``,
``loss.backward()``, ``clip_grad_norm_``, ``AdamW.step()``, ``torch.cuda.synchronize`` at the
end. ``torch.compile`` is not tried: transformers' matcher copies to the CPU and calls SciPy,
and its loss calls ``.item()``, so the graph breaks every step.

Fairness caveats (see RESULTS.md): fp32 means different things by default (JAX on a GPU
runs f32 matmuls and convolutions in TF32 at its default precision; PyTorch runs f32
matmuls in full fp32 but cuDNN convolutions in TF32 by default: the script prints the
settings); transformers' DETR also builds and interpolates a pixel mask and uses timm's
ResNet-50 (torchvision's layout), Keras ResNet-50 differs in small ways (biases on its
convolutions); transformers' loss syncs the host every step (``num_boxes.item()``, the
``.cpu()`` of the cost), so PyTorch steps never overlap, while Keras' jitted step stalls only
in the callbacks; the ``digits`` backbones differ (above).

    KERAS_BACKEND=jax python benchmarks/detr_step.py keras
    python benchmarks/detr_step.py torch        # torch, transformers, timm (no download)
    KERAS_BACKEND=jax python benchmarks/detr_step.py keras --small --cases digits

``--small`` swaps in tiny shapes (batch 2, 64 x 64 / 32 x 32 images, 1+2 layers, d_model 32;
still ResNet-50 in ``paper``) for a CPU smoke test: its times mean nothing. The Keras side
needs keras, jax, numpy, scipy and kerasseq (no TensorFlow, no torch); the torch side imports
torch and transformers only when run. Prints ``RESULT framework case ms/step samples/s``
lines (samples = images) and ``SHARE`` lines; run both sides in one session on one machine
(``benchmarks/run_gpu.sh detection``) and compare ratios (see RESULTS.md).
"""

import argparse
import contextlib
import time

import numpy as np
from keras_timing import keras_fit

CASES = ("paper", "digits", "matching-paper", "matching-digits")
WARMUP, STEPS, POOL = 5, 30, 2

CONFIGS = {
    "paper": dict(backbone="resnet50", image=(512, 512, 3), d_model=256, heads=8, encoder=6,
                  decoder=6, ffn=2048, queries=100, classes=91, dropout=0.1, batch=8,
                  max_targets=10),
    "digits": dict(backbone="resnet", image=(128, 128, 1), d_model=128, heads=8, encoder=3,
                   decoder=3, ffn=512, queries=20, classes=10, dropout=0.1, batch=32,
                   max_targets=6),
}
# Tiny stand-ins for the smoke test: the same code paths (ResNet-50 in paper, aux losses).
SMALL_CONFIGS = {
    "paper": dict(CONFIGS["paper"], image=(64, 64, 3), d_model=32, heads=2, encoder=1,
                  decoder=2, ffn=64, queries=12, batch=2, max_targets=4),
    "digits": dict(CONFIGS["digits"], image=(32, 32, 1), d_model=32, heads=2, encoder=1,
                   decoder=2, ffn=64, queries=8, batch=2, max_targets=3),
}
# The PyTorch side's timm backbone per configuration (dilation: output stride 16, not 32).
TORCH_BACKBONE = {"paper": ("resnet50", False), "digits": ("resnet18", True)}
# AdamW as DETR trains (one learning rate: the backbone's 1e-5 changes no timing).
LEARNING_RATE, WEIGHT_DECAY, CLIP_NORM = 1e-4, 1e-4, 0.1


def expand_cases(cases):
    out = []
    for case in cases:
        for name in (("matching-paper", "matching-digits") if case == "matching" else (case,)):
            if name not in out:
                out.append(name)
    return out


def case_name(config_name, cfg, how):
    height, width, channels = cfg["image"]
    return f"detr-{config_name}-{height}x{width}x{channels}-b{cfg['batch']}-{how}"


def describe(framework, config_name, cfg, backbone):
    print(f"# {framework} {config_name}: backbone {backbone}, images {cfg['image']}, batch "
          f"{cfg['batch']}, d_model {cfg['d_model']}, {cfg['heads']} heads, "
          f"{cfg['encoder']}+{cfg['decoder']} layers, FFN {cfg['ffn']}, {cfg['queries']} "
          f"queries, {cfg['classes']} classes, 1-{cfg['max_targets']} boxes/image, aux losses "
          f"({cfg['decoder']} matchings/step)", flush=True)


def report(framework, case, seconds, samples):
    print(f"RESULT {framework} {case} {seconds * 1e3:.3f} ms/step {samples / seconds:.1f} "
          f"samples/s", flush=True)


def report_share(framework, config_name, what, seconds, step_seconds, how):
    print(f"SHARE {framework} {config_name} {what} {seconds * 1e3:.3f} ms "
          f"{100 * seconds / step_seconds:.1f}% of the {step_seconds * 1e3:.3f} ms step ({how})",
          flush=True)


def make_batches(cfg, count, seed=0):
    """``count`` batches: images (B, H, W, C) float32 in [0, 255], labels (B, T) int32 padded
    with -1 (right padding), boxes (B, T, 4) cxcywh in [0, 1] (padding rows 0), counts (B,)."""
    rng = np.random.default_rng(seed)
    batch, targets = cfg["batch"], cfg["max_targets"]
    batches = []
    for _ in range(count):
        images = rng.uniform(0, 255, (batch, *cfg["image"])).astype("float32")
        counts = rng.integers(1, targets + 1, batch)
        size = rng.uniform(0.05, 0.5, (batch, targets, 2))
        center = rng.uniform(size / 2, 1 - size / 2)
        boxes = np.concatenate([center, size], axis=-1).astype("float32")
        labels = rng.integers(0, cfg["classes"], (batch, targets)).astype("int32")
        real = np.arange(targets)[None, :] < counts[:, None]
        labels = np.where(real, labels, -1).astype("int32")
        boxes = np.where(real[..., None], boxes, 0.0).astype("float32")
        batches.append(dict(images=images, labels=labels, boxes=boxes, counts=counts))
    return batches


def fixed_assignment_numpy(cost, counts):
    """Query i <- target i for the image's first ``counts`` targets: ``(B, Q, T), (B,) ->
    (B, Q)`` int32, -1 elsewhere (what the host solver returns, without solving)."""
    queries = np.arange(np.shape(cost)[1])[None, :]
    return np.where(queries < np.asarray(counts).reshape(-1, 1), queries, -1).astype("int32")


@contextlib.contextmanager
def patched(owner, name, value, label):
    """``owner.name = value`` inside the block; warns if ``value`` was never called (then the
    variant timed the unpatched step)."""
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return value(*args, **kwargs)

    old = getattr(owner, name)
    setattr(owner, name, counted)
    try:
        yield
    finally:
        setattr(owner, name, old)
    if not calls:
        print(f"# warning: {label}: the replacement of {name} was never called", flush=True)


# ---------------------------------------------------------------------------------- Keras


def resnet50_backbone(input_shape):
    """ImageNet's ResNet-50 at random init from images in [0, 255] to the stride-32 map,
    frozen as DETR freezes it: BatchNorm statistics and affine, stem and first stage."""
    import keras

    images = keras.Input(input_shape, name="images")
    x = keras.applications.resnet.preprocess_input(images)
    resnet = keras.applications.ResNet50(include_top=False, weights=None,
                                         input_shape=input_shape)
    for layer in resnet.layers:
        if (isinstance(layer, keras.layers.BatchNormalization)
                or layer.name.startswith(("conv1_", "conv2_"))):
            layer.trainable = False
    return keras.Model(images, resnet(x), name="resnet50_backbone")


def keras_model(cfg):
    from kerasseq.models.detr import build_detr

    backbone = resnet50_backbone(cfg["image"]) if cfg["backbone"] == "resnet50" else "resnet"
    return build_detr(cfg["classes"], cfg["image"], backbone=backbone, d_model=cfg["d_model"],
                      num_heads=cfg["heads"], num_encoder_layers=cfg["encoder"],
                      num_decoder_layers=cfg["decoder"], intermediate_dim=cfg["ffn"],
                      num_queries=cfg["queries"], dropout=cfg["dropout"], seed=0)


def keras_compile(model, cfg):
    import keras

    from kerasseq.losses import DETRLoss

    # global_clipnorm: one norm over all gradients, as torch's clip_grad_norm_ (Keras'
    # clipnorm clips each variable on its own).
    model.compile(keras.optimizers.AdamW(LEARNING_RATE, weight_decay=WEIGHT_DECAY,
                                         global_clipnorm=CLIP_NORM),
                  loss=DETRLoss(cfg["classes"]))


def keras_batches(cfg):
    """The pool of batches on the device: ``[(images, packed targets), ...]``."""
    import jax

    from kerasseq.losses.detr import pack_detr_targets

    pool = []
    for b in make_batches(cfg, POOL):
        y = np.asarray(pack_detr_targets(b["labels"], b["boxes"]))  # (B, T, 5)
        pool.append((jax.device_put(b["images"]), jax.device_put(y)))
    return pool


def keras_train_on_batch(model, pool, steps):
    for i in range(WARMUP):
        model.train_on_batch(*pool[i % POOL])
    start = time.perf_counter()
    for i in range(steps):
        model.train_on_batch(*pool[i % POOL])  # returns the loss as a Python float: a sync
    return (time.perf_counter() - start) / steps


def keras_host_matching(cfg, steps):
    """(bare SciPy, jitted callback) seconds per step: L matchings of (B, Q, T) costs."""
    import jax

    from kerasseq.losses import matching

    rng = np.random.default_rng(1)
    layers, batch = cfg["decoder"], cfg["batch"]
    costs = rng.uniform(0, 10, (POOL, batch, cfg["queries"], cfg["max_targets"]))
    costs = costs.astype("float32")
    counts = [b["counts"].astype("int32") for b in make_batches(cfg, POOL)]
    reps = max(steps, 10)

    def scipy_step(i):
        for _ in range(layers):
            matching._assign_on_host(costs[i % POOL], counts[i % POOL])

    for i in range(2):
        scipy_step(i)
    start = time.perf_counter()
    for i in range(reps):
        scipy_step(i)
    scipy_seconds = (time.perf_counter() - start) / reps

    assign = jax.jit(matching.linear_sum_assignment)
    device = [(jax.device_put(c), jax.device_put(n)) for c, n in zip(costs, counts)]
    for i in range(WARMUP):
        out = assign(*device[i % POOL])
    jax.block_until_ready(out)
    start = time.perf_counter()
    for i in range(reps):
        for _ in range(layers):
            out = assign(*device[i % POOL])
    jax.block_until_ready(out)
    return scipy_seconds, (time.perf_counter() - start) / reps


def keras_main(cases, steps, small):
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit("The Keras side times the jitted step on JAX: set KERAS_BACKEND=jax.")
    import jax
    from keras import ops

    from kerasseq.losses import detr as detr_loss
    from kerasseq.losses import matching

    device = jax.devices()[0]
    print(f"# keras {keras.__version__}, jax {jax.__version__}, device "
          f"{getattr(device, 'device_kind', device.platform)} ({device.platform}), "
          f"jax_default_matmul_precision={jax.config.jax_default_matmul_precision}"
          + ("; --small: smoke test, times mean nothing" if small else ""), flush=True)
    configs = SMALL_CONFIGS if small else CONFIGS

    def fixed_assignment_ops(cost, counts):  # (B, Q, T), (B,) -> (B, Q) int32, on the device
        queries = ops.arange(cost.shape[1], dtype="int32")[None, :]  # (1, Q)
        counts = ops.cast(counts, "int32")[:, None]  # (B, 1)
        return ops.cast(ops.where(queries < counts, queries, -1), "int32")

    models, as_is = {}, {}
    for case in cases:
        config_name = case.removeprefix("matching-")
        cfg = configs[config_name]
        batch = cfg["batch"]
        if config_name not in models:
            describe("keras", config_name, cfg, "keras.applications.ResNet50 (frozen BN, "
                     "stem and stage 1)" if cfg["backbone"] == "resnet50"
                     else "kerasseq resnet (32-64-128, stride 16)")
            start = time.perf_counter()
            models[config_name] = (keras_model(cfg), keras_batches(cfg))
            model = models[config_name][0]
            trained = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
            print(f"# built in {time.perf_counter() - start:.1f} s: "
                  f"{model.count_params() / 1e6:.2f} M parameters, {trained / 1e6:.2f} M "
                  "trained", flush=True)
        model, pool = models[config_name]

        if not case.startswith("matching-") or config_name not in as_is:
            keras_compile(model, cfg)
            start = time.perf_counter()
            as_is[config_name] = keras_fit(model, pool, WARMUP, steps)
            print(f"# compiled and ran {WARMUP} + {steps} steps in "
                  f"{time.perf_counter() - start:.1f} s", flush=True)
            report("keras", case_name(config_name, cfg, "fit"), as_is[config_name], batch)
        if not case.startswith("matching-"):
            report("keras", case_name(config_name, cfg, "train_on_batch"),
                   keras_train_on_batch(model, pool, steps), batch)
            continue

        step = as_is[config_name]
        scipy_seconds, callback_seconds = keras_host_matching(cfg, steps)
        report("scipy", case_name(config_name, cfg, "scipy"), scipy_seconds, batch)
        report("keras", case_name(config_name, cfg, "callback"), callback_seconds, batch)
        layers = f"{cfg['decoder']} calls x {batch} images"
        report_share("scipy", config_name, "scipy-alone", scipy_seconds, step,
                     f"host _assign_on_host over {layers}, random costs; keras fit step")
        report_share("keras", config_name, "callback-alone", callback_seconds, step,
                     f"jitted pure_callback, {cfg['decoder']} calls; keras fit step")
        variants = (("fixed-host", matching, "_assign_on_host", fixed_assignment_numpy),
                    ("fixed-device", detr_loss, "linear_sum_assignment", fixed_assignment_ops))
        for how, owner, name, replacement in variants:
            with patched(owner, name, replacement, f"keras {config_name} {how}"):
                keras_compile(model, cfg)  # a new train function: retraced with the patch
                seconds = keras_fit(model, pool, WARMUP, steps)
            report("keras", case_name(config_name, cfg, how), seconds, batch)
            report_share("keras", config_name, f"as-is-minus-{how}", step - seconds, step,
                         "the SciPy solve in the step" if how == "fixed-host"
                         else "all of the matching in the step")


# -------------------------------------------------------------------------------- PyTorch


def torch_main(cases, steps, small):
    import torch
    import transformers
    from transformers import DetrConfig, DetrForObjectDetection

    try:  # transformers >= 4.46 keeps DETR's loss here; older ones in modeling_detr
        from transformers.loss import loss_for_object_detection as loss_module

        matcher_class = loss_module.HungarianMatcher
    except ImportError:
        from transformers.models.detr import modeling_detr as loss_module

        matcher_class = loss_module.DetrHungarianMatcher
    try:
        import timm

        timm_version = timm.__version__
    except ImportError:
        timm_version = "not installed"

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    configs = SMALL_CONFIGS if small else CONFIGS
    print(f"# torch {torch.__version__}, transformers {transformers.__version__}, timm "
          f"{timm_version}, device {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}"
          f", eager fp32, matmul allow_tf32={torch.backends.cuda.matmul.allow_tf32}, cudnn "
          f"allow_tf32={torch.backends.cudnn.allow_tf32}"
          + ("; --small: smoke test, times mean nothing" if small else ""), flush=True)

    def build(config_name, cfg):
        backbone, dilation = TORCH_BACKBONE[config_name]
        config = DetrConfig(
            use_timm_backbone=True, backbone=backbone, use_pretrained_backbone=False,
            dilation=dilation, num_channels=cfg["image"][2], num_labels=cfg["classes"],
            d_model=cfg["d_model"], encoder_layers=cfg["encoder"],
            decoder_layers=cfg["decoder"], encoder_attention_heads=cfg["heads"],
            decoder_attention_heads=cfg["heads"], encoder_ffn_dim=cfg["ffn"],
            decoder_ffn_dim=cfg["ffn"], num_queries=cfg["queries"], dropout=cfg["dropout"],
            auxiliary_loss=True)
        model = DetrForObjectDetection(config).to(device).train()
        # DETR trains the backbone's stages 2-4 only (BatchNorm is frozen: transformers'
        # DetrFrozenBatchNorm2d). transformers 4.x freezes the stem and stage 1 itself; 5.x
        # skips that for timm backbones (its check looks for "resnet" in the model type,
        # "timm_backbone"), so freeze them here, as DETR does, on any version.
        for name, parameter in model.named_parameters():
            if "backbone" in name and not any(f"layer{i}" in name for i in (2, 3, 4)):
                parameter.requires_grad_(False)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
        pool = []
        for b in make_batches(cfg, POOL):
            images = torch.from_numpy(b["images"] / 127.5 - 1).permute(0, 3, 1, 2)
            labels = [{"class_labels": torch.from_numpy(b["labels"][i, :n]).long().to(device),
                       "boxes": torch.from_numpy(b["boxes"][i, :n]).to(device)}
                      for i, n in enumerate(b["counts"])]
            pool.append((images.float().contiguous().to(device), labels))
        total = sum(p.numel() for p in model.parameters())
        print(f"# built: {total / 1e6:.2f} M parameters, "
              f"{sum(p.numel() for p in params) / 1e6:.2f} M trained", flush=True)
        return model, params, optimizer, pool

    def timeit(model, params, optimizer, pool):
        def step(i):
            images, labels = pool[i % POOL]
            optimizer.zero_grad(set_to_none=True)
            loss = model(pixel_values=images, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, CLIP_NORM)
            optimizer.step()

        for i in range(WARMUP):
            step(i)
        sync()
        start = time.perf_counter()
        for i in range(steps):
            step(i)
        sync()
        return (time.perf_counter() - start) / steps

    def fixed_solver(cost):  # transformers calls it per image on a (Q, n) CPU tensor
        n = cost.shape[1]
        return np.arange(n), np.arange(n)

    def fixed_matcher(self, outputs, targets):
        return [(torch.arange(n, dtype=torch.int64), torch.arange(n, dtype=torch.int64))
                for n in (len(t["boxes"]) for t in targets)]

    built, as_is = {}, {}
    for case in cases:
        config_name = case.removeprefix("matching-")
        cfg = configs[config_name]
        batch = cfg["batch"]
        if config_name not in built:
            backbone, dilation = TORCH_BACKBONE[config_name]
            describe("torch", config_name, cfg, f"timm {backbone} (transformers' frozen BN, "
                     f"stem and stage 1{', dilated: stride 16' if dilation else ''})")
            built[config_name] = build(config_name, cfg)
        parts = built[config_name]
        if not case.startswith("matching-") or config_name not in as_is:
            as_is[config_name] = timeit(*parts)
            report("torch", case_name(config_name, cfg, "train"), as_is[config_name], batch)
        if not case.startswith("matching-"):
            continue
        step = as_is[config_name]
        variants = (("fixed-host", loss_module, "linear_sum_assignment", fixed_solver),
                    ("fixed-device", matcher_class, "forward", fixed_matcher))
        for how, owner, name, replacement in variants:
            with patched(owner, name, replacement, f"torch {config_name} {how}"):
                seconds = timeit(*parts)
            report("torch", case_name(config_name, cfg, how), seconds, batch)
            report_share("torch", config_name, f"as-is-minus-{how}", step - seconds, step,
                         "the SciPy solve in the step" if how == "fixed-host"
                         else "all of the matching in the step")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("side", choices=("keras", "torch"))
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated, of: {', '.join(CASES)}, matching (= both "
                             "matching cases) (default: all)")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"timed steps after {WARMUP} warm-up steps (default {STEPS}; "
                             "3 with --small)")
    parser.add_argument("--small", action="store_true", help="tiny shapes: a smoke test")
    args = parser.parse_args(argv)
    cases = [case.strip() for case in args.cases.split(",") if case.strip()]
    unknown = [case for case in cases if case not in (*CASES, "matching")]
    if unknown or not cases:
        parser.error(f"unknown cases {unknown}; known: {', '.join(CASES)}, matching")
    args.cases = expand_cases(cases)
    if args.steps is None:
        args.steps = 3 if args.small else STEPS
    if args.steps < 1:
        parser.error(f"--steps must be positive, got {args.steps}")
    return args


if __name__ == "__main__":
    args = parse_args()
    (torch_main if args.side == "torch" else keras_main)(args.cases, args.steps, args.small)
