"""The core packages import without TensorFlow, and importing kerasseq is cheap."""

import subprocess
import sys

CHECK = """
import os, sys
os.environ["KERAS_BACKEND"] = "jax"
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
import numpy as np
import kerasseq.layers, kerasseq.models, kerasseq.losses, kerasseq.metrics, kerasseq.decoding, kerasseq.optimizers
model = kerasseq.models.build_char_language_model(11, units=8, depth=2)
assert model(np.zeros((2, 5), "int32")).shape == (2, 5, 11)
assert "tensorflow" not in sys.modules
print("ok")
"""


def test_core_runs_on_jax_without_tensorflow():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_import_kerasseq_is_cheap():
    code = "import sys, kerasseq; assert not {'keras', 'tensorflow', 'mlflow'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
