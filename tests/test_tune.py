"""Hyperparameter search (kerasseq tune): every declared search space is valid, user mistakes
are one-line errors, and a tiny real MR search tracks its trials as children of one MLflow run,
reports the best, resumes an interrupted trial without repeating finished ones, and
cross-validates the chosen settings."""

import contextlib
import dataclasses
import io
import json

import pytest

from conftest import run_cli
from kerasseq.errors import UserError
from kerasseq.search_space import parse_objective, searched_space, spec_values, trial_config
from kerasseq.tasks import get_config_class, task_names

SPACES = [name for name in task_names() if getattr(get_config_class(name), "SEARCH_SPACE", None)]


def test_mr_and_charlm_declare_a_search_space():
    assert {"mr", "charlm"} <= set(SPACES)


@pytest.mark.parametrize("name", SPACES)
def test_every_value_of_a_search_space_is_a_valid_setting(name):
    import keras_tuner

    from kerasseq.tune import declare

    config_class = get_config_class(name)
    base = config_class(**getattr(config_class, "SEARCH_SETTINGS", {}))
    fields = {f.name for f in dataclasses.fields(config_class)}
    space = config_class.SEARCH_SPACE
    for setting, spec in space.items():
        assert setting in fields, setting
        assert all(parent in space for parent in spec.get("when", {})), setting
        for value in spec_values(spec):  # each choice, both ends of a range
            assert getattr(trial_config(base, {setting: value}), setting) == value
    metric, direction = config_class.SEARCH_OBJECTIVE
    assert direction in ("min", "max") and not metric.startswith("test_")
    hp = declare(searched_space(base), base)
    assert isinstance(hp, keras_tuner.HyperParameters) and len(hp.space) == len(space)


def test_fixed_settings_leave_the_search_space_and_settle_its_conditions():
    config_class = get_config_class("mr")
    config = config_class(fold=0, model="rnn", dropout=0.5)
    space = searched_space(config, {"model", "dropout"})
    assert "units" in space and "when" not in space["units"]  # rnn fixed: units always searched
    assert "filters" not in space and "model" not in space and "dropout" not in space
    assert searched_space(config_class(fold=0))["filters"]["when"] == {"model": ["cnn"]}


def test_objectives():
    config_class = get_config_class("mr")
    assert parse_objective(config_class, None) == ("dev_accuracy", "max")
    assert parse_objective(config_class, "dev_accuracy") == ("dev_accuracy", "max")
    assert parse_objective(config_class, "dev_loss:min") == ("dev_loss", "min")
    with pytest.raises(UserError, match="say whether to minimise or maximise"):
        parse_objective(config_class, "dev_loss")


@pytest.mark.parametrize("args, message", [
    (["tune", "nosuchtask"], "unknown task 'nosuchtask'; known tasks: captioning, charlm"),
    (["tune", "ner"], "ner declares no search space (SEARCH_SPACE of TaggingConfig in "
                      "kerasseq/tasks/configs.py); tasks with one: charlm, mr"),
    (["tune", "mr", "--trials", "0"], "--trials must be >= 1; got 0"),
    (["tune", "mr", "--tuner", "grid"], "argument --tuner: invalid choice: 'grid'"),
    (["tune", "mr", "--objective", "test_accuracy"], "the test split gives the reported figure"),
    (["tune", "mr", "--unitz", "3"], "unrecognized arguments: --unitz 3; known parameters: --epochs"),
    (["tune", "charlm", "--final_cv"], "--final_cv: charlm's trials already train on its full protocol"),
])
def test_user_mistakes_get_one_line_errors(tmp_path, args, message):
    result = run_cli(args, cwd=tmp_path, check=False)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# Three trials of two batches each on fold 0 of a 2-fold split (--final_cv then trains 2 folds).
TINY = dict(fold=0, folds=2, epochs=2, steps_per_epoch=2, patience=5, model="cnn", embedding_dim=16,
            filters=8, max_len=40, batch_size=50)


@pytest.fixture(scope="module")
def search(tmp_path_factory, data_dir):
    """A search interrupted in its second trial's second epoch, then run again to 3 trials
    and the chosen settings' cross-validation. Returns (folder, results, output, MLflow URI)."""
    import keras
    import mlflow

    from kerasseq.tasks.mr import TASK, SentenceClassificationTask
    from kerasseq.tune import tune

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    class InterruptedSecondTrial(SentenceClassificationTask):
        def callbacks(self, run, model):
            return super().callbacks(run, model) + ([Interrupt()] if run.dir.name == "trial_001" else [])

    work = tmp_path_factory.mktemp("tune")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    config = TASK.config_class(**TINY)
    space = searched_space(config, set(TINY))
    assert set(space) == {"learning_rate", "dropout"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.delenv("MLFLOW_RUN_ID", raising=False)
        mlflow.set_tracking_uri(uri)  # earlier tests may have set the process-wide URI
        run = dict(objective=("dev_accuracy", "max"), run_dir=work / "mr_tune", verbose=0)
        with pytest.raises(KeyboardInterrupt):
            tune(InterruptedSecondTrial(), config, space, trials=2, **run)
        first = json.loads((work / "mr_tune" / "trial_000" / "checkpoint" / "state.json").read_text())
        stopped = json.loads((work / "mr_tune" / "trial_001" / "checkpoint" / "state.json").read_text())
        assert (first["epoch"], stopped["epoch"]) == (2, 1)
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            results = tune(TASK, config, space, trials=3, final_cv=True, **run)
    return work / "mr_tune", results, output.getvalue(), uri


def test_search_resumes_the_interrupted_trial_and_repeats_no_finished_one(search):
    folder, results, output, _ = search
    assert "Reloading Tuner" in output
    # Trial 0 finished before the interruption; trial 1 continues from its checkpoint.
    assert output.count("Search: Running Trial") == 2
    assert output.count("Resuming") == 1 and f"Resuming {folder / 'trial_001'} from epoch 1" in output
    assert [t["trial"] for t in results["trials"]] == [0, 1, 2]
    assert all(t["status"] == "COMPLETED" and t["final_epochs"] == 2 for t in results["trials"])
    oracle = json.loads((folder / "keras_tuner" / "oracle.json").read_text())
    assert oracle["end_order"] == ["0", "1", "2"] and oracle["run_times"] == {"0": 1, "1": 1, "2": 1}


def test_best_configuration_is_reported_with_its_cross_validation_command(search):
    folder, results, output, _ = search
    scores = [t["dev_accuracy"] for t in results["trials"]]
    best = results["best"]
    assert best["score"] == max(scores) and scores[best["trial"]] == max(scores)
    chosen = results["trials"][best["trial"]]
    assert best["values"] == {"learning_rate": chosen["learning_rate"], "dropout": chosen["dropout"]}
    assert f"--learning_rate {chosen['learning_rate']!r}" in results["command"]
    assert results["command"].startswith("kerasseq train mr ") and "--fold -1" in results["command"]
    assert results["command"] in output and f"Best: trial {best['trial']}" in output
    assert len(results["final_cv"]["test_accuracy"]["folds"]) == 2  # --folds 2, as searched
    assert (folder / "final_cv" / "cv_results.json").exists()
    rows = (folder / "trials.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("trial,status,dev_accuracy,")
    assert (folder / "trials.png").stat().st_size > 0


def test_trials_are_child_runs_of_one_parent(search):
    from mlflow.tracking import MlflowClient

    folder, results, _, uri = search
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("mr").experiment_id])
    assert len(client.search_runs([client.get_experiment_by_name("Default").experiment_id])) == 0
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.info.run_name == "mr_tune-tune" and parent.info.status == "FINISHED"
    children = {r.info.run_name: r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(children) == {"trial_000", "trial_001", "trial_002", "final_cv-cv"}
    # The interrupted trial's run was continued, not duplicated.
    assert all(c.info.status == "FINISHED" for c in children.values())
    folds = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == children["final_cv-cv"].info.run_id]
    assert len(folds) == 2
    history = client.get_metric_history(parent.info.run_id, "dev_accuracy")
    assert sorted(m.step for m in history) == [0, 1, 2]  # trial_000 ...
    assert parent.data.metrics["best_dev_accuracy"] == results["best"]["score"]
    assert parent.data.metrics["final_cv_mean_test_accuracy"] == results["final_cv"]["test_accuracy"]["mean"]
    assert parent.data.tags["best.dropout"] == str(results["best"]["values"]["dropout"])
    assert parent.data.params["learning_rate"] == "searched" and parent.data.params["filters"] == "8"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"trials.csv", "trials.png", "tune_results.json", "search_space.json"} <= artifacts


def test_a_search_with_other_settings_is_refused(search, tmp_path):
    from kerasseq.errors import CheckpointError
    from kerasseq.tasks.mr import TASK
    from kerasseq.tune import tune

    folder, *_ = search
    config = TASK.config_class(**{**TINY, "embedding_dim": 32})
    with pytest.raises(CheckpointError, match="embedding_dim: 16 in the search, 32 now"):
        tune(TASK, config, searched_space(config, set(TINY)), ("dev_accuracy", "max"), folder,
             trials=3, tracking=False)
    with pytest.raises(UserError, match="ask for a cross-validation"):
        tune(TASK, dataclasses.replace(config, fold=-1), {}, ("dev_accuracy", "max"), tmp_path,
             trials=1, tracking=False)
