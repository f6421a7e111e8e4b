"""The model registry and `mlflow models serve`: a registered version of the character LM
loaded by ``models:/NAME/VERSION``, and answering ``/invocations``.
The nowcaster and the translator are served in their tasks' test files, from the runs those
files train anyway."""

import mlflow
import pandas as pd
import pytest

from servers import model_server, post


@pytest.mark.server
def test_registered_char_lm_serves_prompts_like_kerasseq(tiny_run, tmp_path, monkeypatch):
    from kerasseq import training
    from kerasseq.tasks import get_task
    from kerasseq.tracking import register_run_model

    tracking_uri = f"sqlite:///{tiny_run / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    task = get_task("charlm")
    run, model = training.load_run(task, tiny_run / "runs" / "charlm")
    # What `kerasseq export charlm --register shakespeare` does after exporting (the command
    # itself: tests/test_export.py), without exporting again.
    registered = register_run_model(run.state["mlflow_run_id"], "shakespeare")
    model_uri = f"models:/shakespeare/{registered.version}"
    assert mlflow.models.get_model_info(model_uri).flavors.keys() == {"python_function"}

    # kerasseq's own greedy decoding (top_k=1), in this process.
    prompts = ["ROMEO:", "First Citizen:\nWe are"]
    expected = [task.sample(run, model, prompt=p, length=40, top_k=1) for p in prompts]

    loaded = mlflow.pyfunc.load_model(model_uri)  # the registered version, in this process
    greedy = {"num_chars": 40, "temperature": 0.0}
    assert loaded.predict(pd.DataFrame({"prompt": prompts}), params=greedy) == expected

    with model_server(model_uri, tracking_uri, tmp_path / "serve.log") as url:
        status, answer = post(url, {"inputs": {"prompt": prompts}, "params": greedy})
        assert status == 200 and answer == {"predictions": expected}
        # Sampling at a temperature: the defaults' 200 characters, all from the vocabulary.
        status, answer = post(url, {"dataframe_records": [{"prompt": "JULIET:"}]})
        assert status == 200
        (text,) = answer["predictions"]
        assert text.startswith("JULIET:") and len(text) == 207 and set(text) <= set(run.vocab.chars)

        for body, message in [
            ({"inputs": {"prompt": ["ROMEO ¿"]}}, "prompt has characters outside the vocabulary"),
            ({"inputs": {"prompt": [""]}}, "prompt is empty"),
            ({"inputs": {"prompt": [[1, 2]]}}, "prompt must be a string"),
            ({"inputs": {"prompt": ["A"]}, "params": {"num_chars": "many"}}, "num_chars"),
            ({"inputs": {"prompt": ["A"]}, "params": {"temperature": -1.0}}, "temperature must be >= 0"),
            ({"inputs": {"text": ["A"]}}, "missing inputs ['prompt']"),
            ({"inputs": {"prompt": []}}, "no prompt given"),
            (b"", "Invalid input"),
        ]:
            status, answer = post(url, body)
            assert status == 400 and message in answer["message"], (body, status, answer)
        status, _ = post(url, {"inputs": {"prompt": ["A"]}, "params": {"num_chars": 3}})
        assert status == 200  # and still serving
