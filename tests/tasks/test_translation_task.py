"""Multi30k translation end to end: short real runs of the attention GRU and the Transformer
(BLEU, perplexity, alignment plots, translations), the CLI's translation command, and the
string-to-string SavedModel served without kerasseq."""

import json
import subprocess
import sys

import pytest

from conftest import call_cli, run_cli

TINY = ["--epochs", "1", "--steps_per_epoch", "200", "--vocabulary_size", "1000", "--batch_size", "32",
        "--embedding_dim", "32", "--units", "64", "--d_model", "64", "--num_heads", "2",
        "--intermediate_dim", "64", "--num_layers", "1", "--beam_width", "2",
        "--eval_batch_size", "250", "--max_eval_sentences", "150"]


SERVED = "transformer"  # the run `mlflow models serve` serves (once is enough)


def _extra(model):
    if model == "transformer":
        return ["--lr_schedule", "inverse_sqrt", "--warmup_steps", "30", "--label_smoothing", "0.1",
                "--learning_rate", "0.003"]
    return ["--learning_rate", "0.01"]


@pytest.fixture(scope="module", params=["bahdanau", "transformer"])
def translation_run(request, tmp_path_factory, data_dir):
    work = tmp_path_factory.mktemp(f"translation_{request.param}")
    # The Transformer run is tracked in the working folder's own MLflow store and served from there.
    tracking = [] if request.param == SERVED else ["--no_tracking"]
    out = run_cli(["train", "translation", "--model", request.param, *TINY, *_extra(request.param),
                   *tracking], cwd=work, timeout=900, env={"MLFLOW_TRACKING_URI": ""}).stdout
    return work, out, request.param


def test_short_run_reports_bleu_perplexity_and_plots(translation_run):
    work, out, model = translation_run
    run = work / "runs" / "translation"
    metrics = json.loads((run / "metrics.json").read_text())
    # 200 small steps learn more than word frequencies: a uniform guess over 1,000 subwords
    # has perplexity 1,000, and the earlier tanh-readout build, which barely learnt, was at
    # 282 after 150 steps; these runs reach about 50 (Bahdanau) and 59 (Transformer).
    assert 1 < metrics["val_perplexity"] < 150
    assert 0 <= metrics["test_bleu"] <= 100 and 0 <= metrics["test_bleu_greedy"] <= 100
    assert metrics["test_chrf"] > 5
    translations = (run / "artifacts" / "test_translations.txt").read_text(encoding="utf-8")
    # --max_eval_sentences: the first 150 of the 1,000 test sentences, said so in the output.
    assert len(translations.splitlines()) == metrics["test_sentences"] == 150
    assert "Translating the first 150 of test's 1000 sentences (beam 2;" in out
    assert all((run / "artifacts" / f"alignment_{k}.png").stat().st_size > 1000 for k in range(3))
    assert (run / "spm.en.model").is_file() and (run / "spm.de.model").is_file()
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert len(state["history"]["val_bleu"]) == 1  # validation BLEU every epoch
    assert "validation BLEU (greedy)" in out and "BLEU|" in out  # the sacreBLEU signature


SENTENCES = ["A man is riding a bike.", "Two dogs play in the snow near a red house."]
SERVE = r"""
import sys, json
sys.modules["kerasseq"] = None
import tensorflow as tf
import tensorflow_text  # registers the SentencePiece ops
loaded = tf.saved_model.load(sys.argv[1])
out = loaded.translate(tf.constant(json.loads(sys.argv[2])))
print(json.dumps([t.decode("utf-8") for t in out.numpy()]))
"""


def test_saved_model_translates_strings_like_the_cli(translation_run):
    """The SavedModel (tokenizer, beam search and detokenizer inside, loaded without kerasseq)
    gives the same German strings as ``kerasseq sample translation``."""
    work, _, _ = translation_run
    saved = work / "runs" / "translation" / "export" / "saved_model"
    result = subprocess.run([sys.executable, "-c", SERVE, str(saved), json.dumps(SENTENCES)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    cli = call_cli(["sample", "translation", "--prompt", "\\n".join(SENTENCES)], cwd=work).stdout
    assert served == cli.rstrip("\n").split("\n")[-2:]
    assert any(served)


@pytest.mark.server
def test_registered_translator_serves_sentences_over_http(translation_run, tmp_path, monkeypatch):
    """`mlflow models serve` of the registered run translates like kerasseq in this process;
    malformed requests are answered 400 with a message."""
    work, _, model_name = translation_run
    if model_name != SERVED:
        pytest.skip("served once, from the Transformer run")
    from kerasseq import training
    from kerasseq.tasks import get_task
    from kerasseq.tracking import register_run_model
    from servers import model_server, post

    tracking_uri = f"sqlite:///{work / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    run_dir = work / "runs" / "translation"
    state = json.loads((run_dir / "checkpoint" / "state.json").read_text())
    # What `kerasseq export translation --register en-de` does after exporting (tested with
    # the character LM), without exporting again.
    version = register_run_model(state["mlflow_run_id"], "en-de").version
    task = get_task("translation")
    run, model = training.load_run(task, run_dir)
    expected = task.translate(run, task.translator(run, model), SENTENCES)

    with model_server(f"models:/en-de/{version}", tracking_uri, tmp_path / "serve.log") as url:
        status, answer = post(url, {"inputs": SENTENCES})
        assert status == 200 and answer == {"predictions": expected}
        status, answer = post(url, {"dataframe_records": [{"sentence": SENTENCES[1]}]})
        assert status == 200 and answer == {"predictions": expected[1:]}
        for body, message in [
            ({"inputs": [[1, 2]]}, "sentence must be a string"),
            ({"inputs": {"text": SENTENCES}}, "missing inputs ['sentence']"),
            ({"inputs": []}, "no sentence given"),
            (b"", "Invalid input"),
        ]:
            status, answer = post(url, body)
            assert status == 400 and message in answer["message"], (body, status, answer)


def test_bad_settings_are_clear_errors(tmp_path):
    result = run_cli(["train", "translation", "--d_model", "30", "--num_heads", "4"], cwd=tmp_path,
                     check=False)
    assert result.returncode == 2 and "--d_model (30) must be divisible by --num_heads (4)" in result.stderr


def test_max_eval_sentences_must_not_be_negative():
    from kerasseq.errors import UserError
    from kerasseq.tasks.configs import TranslationConfig

    assert TranslationConfig().max_eval_sentences == 0  # the protocol: every sentence
    with pytest.raises(UserError, match=r"--max_eval_sentences must be >= 0 \(0: all\); got -1"):
        TranslationConfig(max_eval_sentences=-1)
