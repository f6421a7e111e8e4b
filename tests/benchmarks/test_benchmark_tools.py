"""The benchmark tooling that is not timing: the PyTorch ratio table (`python -m benchmarks`)
and the Transformer's analytic FLOPs behind its MFU."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from ratios import parse, ratio_table, split_case  # noqa: E402

# Lines as the scripts print them (from a run on one H200), diagnostic variants included.
RESULTS = """\
# 2026-11-30T11:03:31Z NVIDIA H200, 580.159.04
RESULT torch sdpa-fwd-bfloat16 0.160 ms/step 200231.4 samples/s
RESULT keras kerasseq-sdpa-fwd-bfloat16 0.594 ms/step 53906.7 samples/s
RESULT torch transformer3+3-d256-train-bf16 22.550 ms/step 2838.1 samples/s
RESULT keras transformer3+3-d256-train-bf16 3.540 ms/step 18079.1 samples/s
MFU keras transformer3+3-d256-train-bf16 3.4% of 989 TFLOP/s (33.6 TFLOP/s achieved, 1.86 GFLOP/sentence pair)
RESULT keras transformer3+3-d256-train_on_batch-bf16 12.660 ms/step 5055.3 samples/s
RESULT torch forecaster-small-32.16.16-b16-eager 24.410 ms/step 655.5 samples/s
RESULT torch forecaster-small-32.16.16-b16-compile 11.780 ms/step 1358.2 samples/s
RESULT keras:jax forecaster-small-32.16.16-b16-kerasseq-fit 4.805 ms/step 3329.8 samples/s
MEMORY keras:jax forecaster-small-32.16.16-b16-kerasseq-train peak 353.6 MiB (jax)
RESULT torch detr-digits-128x128x1-b32-train 40.000 ms/step 800.0 samples/s
RESULT torch detr-digits-128x128x1-b32-fixed-device 20.000 ms/step 1600.0 samples/s
RESULT keras detr-digits-128x128x1-b32-fit 50.000 ms/step 640.0 samples/s
RESULT scipy detr-digits-128x128x1-b32-scipy 1.000 ms/step 32000.0 samples/s
RESULT torch:jax swin_tiny_patch4_window7_224-infer-bf16-b128 22.952 ms/step 5576.9 samples/s
RESULT keras:jax swin_tiny_patch4_window7_224-infer-bf16-b128 10.828 ms/step 11821.0 samples/s
RESULT kerashub:jax swin_tiny_patch4_window7_224-infer-bf16-b128 12.540 ms/step 10207.0 samples/s
RESULT keras:jax swinv2_tiny_window8_256-train-bf16-b128 36.500 ms/step 3506.9 samples/s
"""


def test_case_names_pair_across_sides():
    assert split_case("kerasseq-sdpa-fwd-bfloat16") == ("sdpa-fwd-bfloat16", "")
    assert split_case("transformer3+3-d256-train_on_batch-bf16") == ("transformer3+3-d256-train-bf16",
                                                                      "train_on_batch")
    assert split_case("forecaster-small-32.16.16-b16-kerasseq-fit") == ("forecaster-small-32.16.16-b16",
                                                                        "kerasseq-fit")
    assert split_case("detr-digits-128x128x1-b32-fixed-device") == ("detr-digits-128x128x1-b32",
                                                                    "fixed-device")
    assert split_case("swin_tiny_patch4_window7_224-train-bf16-b128")[1] == ""


def test_ratio_table_compares_the_fastest_as_is_variants():
    cases = parse(RESULTS)
    table = ratio_table(cases)
    pytorch_table = table.split("\n\n")[0]  # the keras-hub table follows after a blank line
    rows = {line.split(" | ")[0][2:]: line for line in pytorch_table.splitlines()[2:]}
    assert "0.27×" in rows["sdpa-fwd-bfloat16"]
    assert "**6.37×**" in rows["transformer3+3-d256-train-bf16"] and "3.4%" in rows["transformer3+3-d256-train-bf16"]
    assert "**2.45×**" in rows["forecaster-small-32.16.16-b16"]  # against torch.compile, not eager
    assert "0.80×" in rows["detr-digits-128x128x1-b32"]  # fixed-device and SciPy alone are not compared
    assert "**2.12×**" in rows["swin_tiny_patch4_window7_224-infer-bf16-b128"]
    assert "swinv2_tiny_window8_256-train-bf16-b128" not in rows  # one side only
    assert "| swin_tiny_patch4_window7_224-infer-bf16-b128 | 12.54 | 10.828 | 1.16× |" in table


def test_python_m_benchmarks_table_and_argument_errors(tmp_path):
    results = tmp_path / "results.txt"
    results.write_text(RESULTS)
    out = subprocess.run([sys.executable, "-m", "benchmarks", "table", str(results)], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("| case | PyTorch ms/step |") and "forecaster-small" in out
    bad = subprocess.run([sys.executable, "-m", "benchmarks", "vision", "bogus"], cwd=REPO,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown groups ['bogus']" in bad.stderr


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="XLA's count comes from jax.jit")
def test_transformer_flops_match_xlas_count():
    """The analytic count behind the Transformer's MFU is XLA's own count of the forward pass
    less the elementwise work it leaves out (a few per cent at these sizes)."""
    import jax

    from kerasseq.models import build_transformer
    from transformer_step import transformer_flops

    shapes = dict(batch=2, time=12, dim=64, heads=4, ff=128, vocab=500, layers=2)
    model = build_transformer(500, 500, num_layers=2, d_model=64, num_heads=4,
                              intermediate_dim=128, dropout=0.0)
    x = {"source": np.ones((2, 12), "int32"), "target_in": np.ones((2, 12), "int32")}
    weights = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]
    forward = jax.jit(lambda w, x: model.stateless_call(w, frozen, x)[0])
    cost = forward.lower(weights, x).compile().cost_analysis()
    xla = (cost[0] if isinstance(cost, list) else cost)["flops"] / shapes["batch"]
    assert 1.0 <= xla / transformer_flops(shapes) < 1.1
