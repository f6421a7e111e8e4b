"""Side-by-side: a Transformer training step and multi-head attention at length 1024, Keras vs
PyTorch, with the shapes and timing of the GPU peer script (``../shared/gpu/peers/
attention_transformer.py``), so the figures compare with the peer table in
``../shared/gpu/README.md``.

Cases (``--cases``, comma-separated; default all):

- ``train-fp32``, ``train-bf16``: one training step (forward, backward, Adam) of a 3+3-layer
  Transformer, d_model 256, 8 heads, d_ff 1024, vocabularies of 8000, dropout 0.1, batch 64 x
  40 tokens, label-smoothed (0.1) cross-entropy ignoring id 0. Keras: kerasseq's
  ``build_transformer`` + ``SmoothedSparseCrossEntropy``, timed as ``model.fit`` (what
  ``kerasseq.training`` runs; steps pipelined, the last one awaited) and as
  ``train_on_batch`` (a host copy of the loss every step); bf16 = the ``mixed_bfloat16``
  policy. PyTorch: embeddings + ``nn.Transformer(batch_first=True)`` + ``nn.Linear``, as
  the peer (which uses plain cross-entropy; the smoothing here matches the Keras loss);
  bf16 = ``torch.autocast``. The Keras model also scales its embeddings by √d, adds
  sinusoidal positions and masks padding; ``nn.Transformer`` adds a final LayerNorm to each
  stack: small, inherent differences between the two models.
- ``sdpa-fp32``, ``sdpa-bf16``: softmax(QKᵀ/√d)V forward, batch 32, 8 heads, 1024 x 1024,
  head size 64. Keras: ``kerasseq.layers.scaled_dot_product_attention`` under ``jax.jit``;
  PyTorch: ``F.scaled_dot_product_attention``.
- ``fused-fp32``, ``fused-bf16``: the same, Keras with ``return_weights=False`` (the weights
  are not formed: ``keras.ops.dot_product_attention``, the backend's fused kernel, flash
  attention in bf16 on a GPU); PyTorch: ``F.scaled_dot_product_attention`` again.
- ``mha-fp32``, ``mha-bf16``: the multi-head attention layer forward (self-attention, batch
  32 x 1024, d_model 512, 8 heads), weights in that dtype. Keras:
  ``keras.layers.MultiHeadAttention`` (what kerasseq's Transformer blocks use), its
  ``stateless_call`` under ``jax.jit`` with the weights as arguments; PyTorch:
  ``nn.MultiheadAttention(need_weights=False)`` under ``no_grad``.

Training cases also print ``MFU`` lines on both sides (``benchmarks/mfu.py``): the analytic
FLOPs of :func:`transformer_flops` x 3 per sentence pair over the device's dense peak (bf16
for bf16 steps; TF32 for fp32 steps, the math JAX uses for fp32 matmuls on Hopper).

Timing as the peer: 5 warm-up steps, then the mean of ``--steps`` (30), outputs kept on the
device, one device sync (``jax.block_until_ready``, ``torch.cuda.synchronize``) at the end.

    KERAS_BACKEND=jax python benchmarks/transformer_step.py keras
    python benchmarks/transformer_step.py torch                  # pip install torch==2.13.0
    KERAS_BACKEND=jax python benchmarks/transformer_step.py keras --small --cases train-fp32

``--small`` swaps in tiny shapes for a smoke test (its times mean nothing). The Keras side
needs only keras, numpy and kerasseq's layers, models and losses (no TensorFlow); the
attention cases need the JAX backend (``jax.jit``). Prints ``RESULT framework case ms/step
samples/s`` lines, as the peer scripts do; run both sides and the peer in one session on one
machine (``benchmarks/run_gpu.sh``) and compare ratios (see RESULTS.md).
"""

import argparse
import time

import numpy as np

from mfu import peak_flops, report_mfu  # noqa: E402  (benchmarks/ is the script's folder)

CASES = ("train-fp32", "train-bf16", "sdpa-fp32", "sdpa-bf16", "fused-fp32", "fused-bf16",
         "mha-fp32", "mha-bf16")
WARMUP, STEPS = 5, 30

# (batch, time, d_model, heads) of the attention cases; the Transformer's (batch, time,
# d_model, heads, d_ff, vocab, layers per stack).
ATTENTION = dict(batch=32, time=1024, dim=512, heads=8)
TRANSFORMER = dict(batch=64, time=40, dim=256, heads=8, ff=1024, vocab=8000, layers=3)
SMALL_ATTENTION = dict(batch=2, time=64, dim=64, heads=4)
SMALL_TRANSFORMER = dict(batch=4, time=8, dim=32, heads=4, ff=64, vocab=100, layers=1)


def case_name(case, shapes):
    """The peer's case names (``transformer3+3-d256-train-fp32``, ``mha-fwd-float32``)."""
    kind, dtype = case.split("-")
    if kind == "train":
        n, d = shapes["layers"], shapes["dim"]
        return f"transformer{n}+{n}-d{d}-train-{dtype}"
    return f"{kind}-fwd-{'float32' if dtype == 'fp32' else 'bfloat16'}"


def report(framework, case, seconds, samples):
    print(f"RESULT {framework} {case} {seconds * 1e3:.3f} ms/step {samples / seconds:.1f} "
          f"samples/s", flush=True)


def transformer_flops(shapes):
    """Analytic forward FLOPs of one (source, target) pair through the Transformer: 2 x the
    multiply-adds of its matmuls (per layer and token: the attention projections 4d² (the
    decoder's cross-attention: d² each for Q and O on target tokens, K and V on source tokens),
    scores and values 2·T·d per attention, the feed-forward 2·d·d_ff; the output projection
    d·V per target token). Norms, softmax and embeddings' lookups are not counted; a training
    step is counted as 3 x this."""
    n, d, ff, v = (shapes[k] for k in ("layers", "dim", "ff", "vocab"))
    s = t = shapes["time"]
    encoder = s * (4 * d * d + 2 * s * d + 2 * d * ff)
    decoder = t * (4 * d * d + 2 * t * d) + t * 2 * d * d + s * 2 * d * d + t * 2 * s * d \
        + t * 2 * d * ff
    return 2 * (n * (encoder + decoder) + t * d * v)


def token_batches(shapes, count, seed=0):
    """``count`` batches of source, target-in and target-out ids in [1, vocab): no padding."""
    rng = np.random.default_rng(seed)
    size = (count * shapes["batch"], shapes["time"])
    return [rng.integers(1, shapes["vocab"], size).astype("int32") for _ in range(3)]


# ---------------------------------------------------------------------------------- Keras


def keras_train(dtype, shapes, steps):
    import keras

    from kerasseq.losses import SmoothedSparseCrossEntropy
    from kerasseq.models import build_transformer

    # Mixed bf16 (float32 weights, bf16 compute) is what torch.autocast does.
    keras.config.set_dtype_policy("mixed_bfloat16" if dtype == "bf16" else "float32")
    try:
        model = build_transformer(shapes["vocab"], shapes["vocab"], num_layers=shapes["layers"],
                                  d_model=shapes["dim"], num_heads=shapes["heads"],
                                  intermediate_dim=shapes["ff"], dropout=0.1)
    finally:
        keras.config.set_dtype_policy("float32")
    model.compile(keras.optimizers.Adam(), SmoothedSparseCrossEntropy(0.1, ignore_class=0))
    # Enough batches for the warm-up fit and the timed one.
    source, target_in, target_out = token_batches(shapes, max(steps, WARMUP))
    x = {"source": source, "target_in": target_in}
    batch = shapes["batch"]
    fit = dict(batch_size=batch, epochs=1, shuffle=False, verbose=0)

    model.fit(x, target_out, steps_per_epoch=WARMUP, **fit)  # compiles the train step
    start = time.perf_counter()
    model.fit(x, target_out, steps_per_epoch=steps, **fit)  # returns once the last step is done
    results = [("fit", (time.perf_counter() - start) / steps)]

    first = {k: v[:batch] for k, v in x.items()}
    for _ in range(WARMUP):
        model.train_on_batch(first, target_out[:batch])
    start = time.perf_counter()
    for i in range(steps):
        rows = slice(i * batch, (i + 1) * batch)
        model.train_on_batch({k: v[rows] for k, v in x.items()}, target_out[rows])
    results.append(("train_on_batch", (time.perf_counter() - start) / steps))
    return results


def keras_attention(kind, dtype, shapes, steps):
    import keras

    from kerasseq.layers import scaled_dot_product_attention

    if keras.backend.backend() != "jax":
        raise SystemExit("The attention cases time jax.jit functions: set KERAS_BACKEND=jax.")
    import jax  # the backend itself: jit and the device sync

    batch, length, dim, heads = (shapes[k] for k in ("batch", "time", "dim", "heads"))
    dtype = "float32" if dtype == "fp32" else "bfloat16"
    rng = np.random.default_rng(0)
    if kind == "sdpa":
        q = jax.numpy.asarray(rng.standard_normal((batch, heads, length, dim // heads)), dtype)
        function = jax.jit(lambda q: scaled_dot_product_attention(q, q, q)[0])
        args = (q,)
    elif kind == "fused":
        q = jax.numpy.asarray(rng.standard_normal((batch, heads, length, dim // heads)), dtype)
        function = jax.jit(
            lambda q: scaled_dot_product_attention(q, q, q, return_weights=False)[0])
        args = (q,)
        hlo = function.lower(q).compile().as_text()  # which kernel XLA picked
        print(f"# fused-{dtype}: cuDNN fused attention in the compiled step: "
              f"{'cudnn$fmha' in hlo or '__cudnn$fmha' in hlo}", flush=True)
    else:
        mha = keras.layers.MultiHeadAttention(heads, dim // heads, dtype=dtype)
        x = jax.numpy.asarray(rng.standard_normal((batch, length, dim)), dtype)
        mha(x, x)  # builds the weights
        weights = [v.value for v in mha.trainable_variables]
        function = jax.jit(lambda weights, x: mha.stateless_call(weights, [], x, x)[0])
        args = (weights, x)

    for _ in range(WARMUP):
        out = function(*args)
    jax.block_until_ready(out)
    start = time.perf_counter()
    for _ in range(steps):
        out = function(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / steps


def _device_kind(keras):
    if keras.backend.backend() != "jax":
        return "cpu"
    import jax

    device = jax.devices()[0]
    return getattr(device, "device_kind", device.platform)


def keras_main(cases, steps, small):
    import keras

    attention = SMALL_ATTENTION if small else ATTENTION
    transformer = SMALL_TRANSFORMER if small else TRANSFORMER
    device_kind = _device_kind(keras)
    flops = transformer_flops(transformer)
    print(f"# keras {keras.__version__}, backend {keras.backend.backend()}, device "
          f"{device_kind}; training MFU counts 3 x {flops / 1e9:.4g} GFLOP per sentence pair",
          flush=True)
    for case in cases:
        kind, dtype = case.split("-")
        if kind == "train":
            peak, assumption = peak_flops(device_kind, precision=dtype)
            print(f"# {case}: MFU {assumption}", flush=True)
            for how, seconds in keras_train(dtype, transformer, steps):
                name = case_name(case, transformer)
                if how != "fit":
                    name = name.replace("-train-", f"-{how}-")
                report("keras", name, seconds, transformer["batch"])
                report_mfu("keras", name, seconds, transformer["batch"], 3 * flops, peak,
                           unit="sentence pair")
        else:
            prefix = "kerasseq" if kind in ("sdpa", "fused") else "keras"
            report("keras", f"{prefix}-{case_name(case, attention)}",
                   keras_attention(kind, dtype, attention, steps), attention["batch"])


# -------------------------------------------------------------------------------- PyTorch


def torch_main(cases, steps, small):
    import torch
    import torch.nn.functional as F
    from torch import nn

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    attention = SMALL_ATTENTION if small else ATTENTION
    shapes = SMALL_TRANSFORMER if small else TRANSFORMER
    print(f"# torch {torch.__version__}, device "
          f"{torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}", flush=True)

    def timeit(step):
        for _ in range(WARMUP):
            step()
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        return (time.perf_counter() - start) / steps

    batch, length, dim, heads = (attention[k] for k in ("batch", "time", "dim", "heads"))
    for case in cases:
        kind, dtype = case.split("-")
        if kind == "train":
            continue
        dt = torch.float32 if dtype == "fp32" else torch.bfloat16
        if kind in ("sdpa", "fused"):  # one kernel; "fused" names the row of Keras' fused path
            q = torch.randn(batch, heads, length, dim // heads, device=device, dtype=dt)
            seconds = timeit(lambda: F.scaled_dot_product_attention(q, q, q))
        else:
            mha = nn.MultiheadAttention(dim, heads, batch_first=True).to(device, dt)
            x = torch.randn(batch, length, dim, device=device, dtype=dt)
            with torch.no_grad():
                seconds = timeit(lambda: mha(x, x, x, need_weights=False))
        report("torch", case_name(case, attention), seconds, batch)

    train = [case for case in cases if case.startswith("train-")]
    if not train:
        return
    vocab, width = shapes["vocab"], shapes["dim"]
    model = nn.Transformer(width, shapes["heads"], shapes["layers"], shapes["layers"],
                           shapes["ff"], dropout=0.1, batch_first=True).to(device)
    emb_s, emb_t = nn.Embedding(vocab, width).to(device), nn.Embedding(vocab, width).to(device)
    out = nn.Linear(width, vocab).to(device)
    params = [*model.parameters(), *emb_s.parameters(), *emb_t.parameters(), *out.parameters()]
    optimizer = torch.optim.Adam(params)
    src, tgt_in, tgt_out = (torch.from_numpy(a[:shapes["batch"]]).long().to(device)
                            for a in token_batches(shapes, 1))
    mask = nn.Transformer.generate_square_subsequent_mask(shapes["time"], device=device)

    def step(autocast):
        optimizer.zero_grad()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
            y = out(model(emb_s(src), emb_t(tgt_in), tgt_mask=mask, tgt_is_causal=True))
            loss = F.cross_entropy(y.reshape(-1, vocab).float(), tgt_out.reshape(-1),
                                   ignore_index=0, label_smoothing=0.1)
        loss.backward()
        optimizer.step()

    device_kind = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    for case in train:
        seconds = timeit(lambda: step(case == "train-bf16"))
        report("torch", case_name(case, shapes), seconds, shapes["batch"])
        # The same analytic count (nn.Transformer's extra final norms are not FLOPs counted).
        peak, _ = peak_flops(device_kind, precision=case.split("-")[1])
        report_mfu("torch", case_name(case, shapes), seconds, shapes["batch"],
                   3 * transformer_flops(shapes), peak, unit="sentence pair")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("side", choices=("keras", "torch"))
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated, of: {', '.join(CASES)} (default: all)")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"timed steps after {WARMUP} warm-up steps (default {STEPS}; "
                             "3 with --small)")
    parser.add_argument("--small", action="store_true", help="tiny shapes: a smoke test")
    args = parser.parse_args(argv)
    args.cases = [case.strip() for case in args.cases.split(",") if case.strip()]
    unknown = [case for case in args.cases if case not in CASES]
    if unknown or not args.cases:
        parser.error(f"unknown cases {unknown}; known: {', '.join(CASES)}")
    if args.steps is None:
        args.steps = 3 if args.small else STEPS
    if args.steps < 1:
        parser.error(f"--steps must be positive, got {args.steps}")
    return args


if __name__ == "__main__":
    args = parse_args()
    (torch_main if args.side == "torch" else keras_main)(args.cases, args.steps, args.small)
