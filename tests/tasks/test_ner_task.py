"""CoNLL-2003 NER end to end: a short real run with and without the CRF, entity F1 from the
conlleval definition, selection on validation F1, and the SavedModel that tags raw tokens."""

import json
import subprocess
import sys

import pytest

from conftest import run_cli

TINY_NER = ["--epochs", "2", "--steps_per_epoch", "60", "--batch_size", "32", "--word_dim", "32",
            "--char_dim", "16", "--char_units", "16", "--units", "32", "--learning_rate", "0.01",
            "--lr_schedule", "constant", "--no_tracking"]


@pytest.fixture(scope="module", params=["true", "false"], ids=["crf", "softmax"])
def ner_run(request, tmp_path_factory, data_dir):
    work = tmp_path_factory.mktemp(f"ner_{request.param}")
    out = run_cli(["train", "ner", "--crf", request.param, *TINY_NER], cwd=work).stdout
    return work, out, request.param


def test_short_run_finds_entities(ner_run):
    work, out, _ = ner_run
    metrics = json.loads((work / "runs" / "ner" / "metrics.json").read_text())
    # 120 small steps find a good part of the 5,648 test entities (random tagging finds ~none).
    assert 0.3 < metrics["test_f1"] < 1 and 0 < metrics["test_precision"] <= 1
    assert {"f1_LOC", "f1_MISC", "f1_ORG", "f1_PER"} <= {k[5:] for k in metrics if k.startswith("test_")}
    state = json.loads((work / "runs" / "ner" / "checkpoint" / "state.json").read_text())
    assert len(state["history"]["val_f1"]) == 2  # validation F1 every epoch, in the checkpoint
    assert "validation entity F1" in out


SERVE = r"""
import sys, json
sys.modules["kerasseq"] = None
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
tokens = "Peter Blackburn flew from BRUSSELS to New York on 1996-08-22 .".split()
print(json.dumps([t.decode() for t in loaded.tag(tf.constant(tokens)).numpy()]))
"""


def test_saved_model_tags_raw_tokens_without_kerasseq(ner_run):
    work, _, _ = ner_run
    saved = work / "runs" / "ner" / "export" / "saved_model"
    result = subprocess.run([sys.executable, "-c", SERVE, str(saved)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    tags = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(tags) == 11
    allowed = {"O"} | {f"{p}-{t}" for p in "BI" for t in ("PER", "LOC", "ORG", "MISC")}
    assert set(tags) <= allowed


def test_checkpoint_loads_in_a_fresh_process(ner_run):
    """Resuming, evaluating or exporting a run loads its model where nothing imported the
    CRF loss yet."""
    work, _, crf = ner_run
    code = ("import sys; from kerasseq.checkpoint import Checkpoint; "
            "print(type(Checkpoint(sys.argv[1]).load_model().loss).__name__)")
    result = subprocess.run([sys.executable, "-c", code, str(work / "runs" / "ner")], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = "CRFNegativeLogLikelihood" if crf == "true" else "SparseCategoricalCrossentropy"
    assert result.stdout.strip().splitlines()[-1] == expected
