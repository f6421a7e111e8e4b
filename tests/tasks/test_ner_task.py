"""CoNLL-2003 NER end to end: a short real run with and without the CRF (both with the word
casing feature), entity F1 from the conlleval definition, selection on validation F1, the
SavedModel that tags raw tokens, and runs saved before the casing option."""

import json
import subprocess
import sys

import pytest

from conftest import call_cli, run_cli

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
    assert state["config"]["casing"] is True and state["config"]["casing_dim"] == 10  # the default
    assert "validation entity F1" in out


SERVE = r"""
import sys, json
sys.modules["kerasseq"] = None
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
tokens = "Peter Blackburn flew from BRUSSELS to New York on 1996-08-22 .".split()
print(json.dumps([t.decode() for t in loaded.tag(tf.constant(tokens)).numpy()]))
"""


# The subprocess tests below run on the CRF run only: its SavedModel (Viterbi inside) and its
# loss (a kerasseq class to register) are the harder case; the softmax run's SavedModel is
# checked in this process by test_saved_model_tags_as_the_keras_model_does.
CRF_ONLY = pytest.mark.parametrize("ner_run", ["true"], indirect=True, ids=["crf"])


@CRF_ONLY
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


def test_saved_model_tags_as_the_keras_model_does(ner_run):
    """The SavedModel's own normalisation, lookups and casing classes (TensorFlow ops) feed
    the network what the Python encoding feeds it, on tokens whose casing is tricky."""
    import keras
    import numpy as np
    import tensorflow as tf

    import kerasseq.layers.crf  # noqa: F401 (registers the CRF)
    from kerasseq.data.conll import TAGS, TaggingVocabulary
    from kerasseq.layers.crf import viterbi_decode

    work, _, crf = ner_run
    run_dir = work / "runs" / "ner"
    tokens = ("McDONALD of U.S. firm iPhone said 1,000 ZÜRICH workers - 40 % - left "
              "Zürich on 1996-08-22 for ÉCOLE F-16 x86-Bit +1 Peter Blackburn .").split()
    vocab = TaggingVocabulary.from_dict(json.loads((run_dir / "vocab.json").read_text()))
    words, chars, casing = vocab.encode(tokens, len(tokens), 20, casing=True)
    model = keras.saving.load_model(run_dir / "export" / "model.keras", compile=False)
    outputs = model({"words": words[None], "chars": chars[None], "casing": casing[None]})
    if crf == "true":
        ids = viterbi_decode(outputs, np.ones((1, len(tokens)), bool))
        ids = ids[0] if isinstance(ids, (tuple, list)) else ids
    else:
        ids = keras.ops.argmax(outputs, axis=-1)
    iob2 = [t if t == "O" else ("B-" if t[0] in "BS" else "I-") + t[2:] for t in TAGS]
    expected = [iob2[i] for i in keras.ops.convert_to_numpy(ids)[0]]
    loaded = tf.saved_model.load(str(run_dir / "export" / "saved_model"))
    assert [t.decode() for t in loaded.tag(tf.constant(tokens)).numpy()] == expected


def test_runs_saved_before_the_casing_option_load_without_it(tmp_path):
    """Evaluating or exporting an old run rebuilds its inputs without casing classes."""
    from kerasseq.data.conll import TaggingVocabulary
    from kerasseq.tasks.configs import TaggingConfig
    from kerasseq.tasks.ner import TASK
    from kerasseq.training import Run

    sentence = ("EU rejects German call".split(), ["B-ORG", "O", "B-MISC", "O"])
    vocab = TaggingVocabulary.from_sentences([sentence])
    (tmp_path / "vocab.json").write_text(json.dumps(vocab.to_dict()))
    config = TaggingConfig(word_dim=8, char_dim=4, char_units=4, units=8)
    old = {k: v for k, v in config.to_dict().items() if k not in ("casing", "casing_dim")}
    for saved, casing in ((old, False), (config.to_dict(), True)):
        run = Run(config=config, dir=tmp_path)
        run.state = {"config": saved}
        TASK.prepare(run)
        assert run.config.casing is casing
        model, x = TASK.build_model(run), TASK.example_input(run)
        assert set(x) == set(model.input) == {"words", "chars", *(["casing"] if casing else [])}
        assert tuple(model(x).shape[:2]) == (1, 9)


def test_casing_dim_must_be_positive():
    from kerasseq.errors import UserError
    from kerasseq.tasks.configs import TaggingConfig

    with pytest.raises(UserError, match="--casing_dim must be >= 1; got 0"):
        TaggingConfig(casing_dim=0)


@CRF_ONLY
def test_checkpoint_loads_in_a_fresh_process(ner_run):
    """Resuming, evaluating or exporting a run loads its model where nothing imported the
    CRF loss yet."""
    work, _, _ = ner_run
    code = ("import sys; from kerasseq.checkpoint import Checkpoint; "
            "print(type(Checkpoint(sys.argv[1]).load_model().loss).__name__)")
    result = subprocess.run([sys.executable, "-c", code, str(work / "runs" / "ner")], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "CRFNegativeLogLikelihood"


def test_train_on_train_and_valid_trains_on_both_and_selects_nothing(data_dir):
    """``--train_on train+valid``: the training sentences (and the vocabulary) are both splits,
    no epoch is selected on validation F1 and none is reported; test stays test."""
    from types import SimpleNamespace

    from kerasseq.errors import UserError
    from kerasseq.tasks import get_task
    from kerasseq.tasks.configs import TaggingConfig

    task = get_task("ner")
    both = SimpleNamespace(config=TaggingConfig(train_on="train+valid"))
    train_only = SimpleNamespace(config=TaggingConfig())
    assert len(task._sentences(both, "train")) == 14041 + 3250
    assert len(task._sentences(train_only, "train")) == 14041
    assert len(task._sentences(both, "test")) == len(task._sentences(train_only, "test")) == 3453
    assert task.callbacks(both, None) == []
    assert [type(c).__name__ for c in task.callbacks(train_only, None)] == ["ValidationF1", "EarlyStopping"]
    with pytest.raises(UserError, match="train_on"):
        TaggingConfig(train_on="valid")


def test_ensemble_of_a_run_and_its_copy_scores_as_the_run(ner_run, tmp_path):
    """``kerasseq evaluate ner --ensemble``: averaging identical members (CRF log-potentials,
    or softmax probabilities) changes no tag; a missing or repeated member is a clear error."""
    import shutil

    work, _, crf = ner_run
    run_dir = work / "runs" / "ner"
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    out = call_cli(["evaluate", "ner", "--run_dir", str(run_dir), "--ensemble", str(copy)], cwd=work).stdout
    assert f"ensemble of 2 runs: {run_dir}, {copy}" in out
    scores = {line.split(": ")[0]: float(line.split(": ")[1])
              for line in out.splitlines() if line.startswith("ensemble_test_")}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("test_f1", "test_precision", "test_recall", "test_f1_PER"):
        assert scores[f"ensemble_{key}"] == pytest.approx(metrics[key], abs=1e-4)
    if crf != "true":
        return  # the argument errors below are the same for both runs
    for ensemble, message in ((str(tmp_path / "none"), f"--ensemble: no trained run in {tmp_path / 'none'}"),
                              ("runs/ner/", "--ensemble needs other run folders than --run_dir")):
        result = call_cli(["evaluate", "ner", "--ensemble", ensemble], cwd=work, check=False)
        assert result.returncode == 2 and message in result.stderr, result.stderr


def test_ensemble_members_must_share_inputs(tmp_path):
    from types import SimpleNamespace

    from kerasseq.data.conll import TaggingVocabulary
    from kerasseq.errors import UserError
    from kerasseq.tasks.configs import TaggingConfig
    from kerasseq.tasks.ner import TASK

    vocab = TaggingVocabulary.from_sentences([("EU rejects German call".split(), ["B-ORG", "O", "B-MISC", "O"])])
    other = TaggingVocabulary.from_sentences([("Peter flew".split(), ["B-PER", "O"])])
    first = SimpleNamespace(config=TaggingConfig(), dir=tmp_path / "a", vocab=vocab)
    for second, message in (
            (SimpleNamespace(config=TaggingConfig(crf=False), dir=tmp_path / "b", vocab=vocab),
             "has --crf False and"),
            (SimpleNamespace(config=TaggingConfig(), dir=tmp_path / "b", vocab=other),
             f"{tmp_path / 'b'}/vocab.json differs from {tmp_path / 'a'}/vocab.json")):
        with pytest.raises(UserError, match=message.replace("(", r"\(")):
            TASK.evaluate_ensemble([(first, None), (second, None)])
