"""The kerasseq command line: help, one-line errors for user mistakes, and the commands on a
real (tiny) trained run."""

import zipfile

import pytest

from conftest import call_cli, run_cli


def test_help_lists_tasks_and_parameters_with_defaults(tmp_path):
    top = run_cli(["--help"], cwd=tmp_path)
    assert "charlm" in top.stdout and "train" in top.stdout
    task = run_cli(["train", "charlm", "--help"], cwd=tmp_path)
    for expected in ["--units", "(default: 384)", "--cell", "one of delay, gru, leaky, lstm, mut1,", "--epochs",
                     "--learning_rate", "--clipnorm", "--jit_compile", "--run_dir", "--restart",
                     "--jit", "--no-jit", "--precision", "--distribute", "--num_processes",
                     "--process_id", "--coordinator"]:
        assert expected in task.stdout, expected


@pytest.mark.parametrize("flags, jit_compile", [
    ([], "auto"), (["--jit"], "true"), (["--no-jit"], "false"), (["--no_jit"], "false"),
    (["--jit_compile", "false", "--jit"], "true"),  # the last one given wins
])
def test_jit_flags_are_aliases_of_jit_compile(flags, jit_compile):
    from kerasseq.cli import _command_parser
    from kerasseq.config import config_from_args
    from kerasseq.tasks import get_config_class

    args = vars(_command_parser("train", "charlm").parse_args(flags))
    assert config_from_args(get_config_class("charlm"), args).jit_compile == jit_compile


@pytest.mark.parametrize("args, message", [
    (["train", "charlm", "--unitz", "5"], "unrecognized arguments: --unitz 5; known parameters: --epochs"),
    (["train", "charlm", "--units", "many"], "--units expects an integer; got 'many'"),
    (["train", "charlm", "--cell", "tcn"], "--cell must be one of delay, gru, leaky, lstm, mut1, mut2, mut3, rnn; got 'tcn'"),
    (["train", "charlm", "--dropout", "1.5"], "--dropout must be in [0, 1)"),
    (["train", "charlm", "--epochs", "0"], "--epochs must be >= 1"),
    (["train", "nosuchtask"], "unknown task 'nosuchtask'; known tasks: captioning, charlm"),
    (["fly", "charlm"], "unknown command 'fly'"),
    (["train", "charlm", "--data_dir", "/nonexistent/data"], "data directory /nonexistent/data"),
    (["sample", "charlm"], "no trained run in runs/charlm"),
    (["gradients", "--cells", "rnn,tcn"], "--cells: unknown cell(s) ['tcn']"),
    (["gradients", "--steps", "0"], "--steps must be >= 1"),
])
def test_user_mistakes_get_one_line_errors(tmp_path, args, message):
    result = run_cli(args, cwd=tmp_path, check=False)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_missing_data_dir_variable(tmp_path):
    result = run_cli(["train", "charlm", "--epochs", "1"], cwd=tmp_path, env={"KERASSEQ_DATA_DIR": ""},
                     check=False)
    assert result.returncode == 2 and "set KERASSEQ_DATA_DIR" in result.stderr


def test_sample_evaluate_and_prompt_errors(tiny_run):
    out = run_cli(["sample", "charlm", "--prompt", "ROMEO:", "--length", "50", "--temperature", "0.7",
                   "--top_k", "5", "--seed", "1"], cwd=tiny_run).stdout
    text = out.rstrip("\n")
    assert text.startswith("ROMEO:") and len(text) == 56
    # The rest in this process (kerasseq.cli.main): the entry point is the same, the
    # interpreter's start-up is not what they test.
    again = call_cli(["sample", "charlm", "--prompt", "ROMEO:", "--length", "50", "--temperature", "0.7",
                     "--top_k", "5", "--seed", "1"], cwd=tiny_run).stdout
    assert again == out  # seeded sampling is reproducible
    bad = call_cli(["sample", "charlm", "--prompt", "ROMEO: ¿qué?"], cwd=tiny_run, check=False)
    assert bad.returncode == 2 and "outside the model's vocabulary: '¿é'" in bad.stderr
    bad_t = call_cli(["sample", "charlm", "--temperature", "0"], cwd=tiny_run, check=False)
    assert bad_t.returncode == 2 and "--temperature must be > 0" in bad_t.stderr
    metrics = call_cli(["evaluate", "charlm", "--no_tracking"], cwd=tiny_run).stdout
    assert "val_loss_nats:" in metrics and "val_bits_per_char:" in metrics


def test_export_command_writes_both_formats(tiny_run, tmp_path):
    call_cli(["export", "charlm", "--out", str(tmp_path / "exp")], cwd=tiny_run)
    assert (tmp_path / "exp" / "model.keras").is_file()
    assert (tmp_path / "exp" / "saved_model" / "saved_model.pb").is_file()


def test_corrupt_checkpoint_is_a_clear_error(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "runs" / "charlm"
    shutil.copytree(tiny_run / "runs" / "charlm", run)
    (run / "checkpoint" / "model.keras").write_bytes(b"not a zip file")
    result = call_cli(["sample", "charlm"], cwd=tmp_path, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "checkpoint/model.keras is corrupt" in result.stderr
    assert not zipfile.is_zipfile(run / "checkpoint" / "model.keras")
    (run / "checkpoint" / "state.json").write_text("{not json")
    result = call_cli(["train", "charlm", "--epochs", "3"], cwd=tmp_path, check=False)
    assert result.returncode == 2 and "state.json is unreadable or corrupt" in result.stderr


def test_resuming_with_other_settings_is_refused(tiny_run, tmp_path):
    import shutil

    shutil.copytree(tiny_run / "runs", tmp_path / "runs")
    result = call_cli(["train", "charlm", "--units", "64"], cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "units: 32 in the run, 64 now" in result.stderr and "--restart" in result.stderr


def test_gradients_command_trains_measures_and_tracks(tmp_path):
    from mlflow.tracking import MlflowClient

    result = run_cli(["gradients", "--out", "grad", "--cells", "rnn,gru", "--steps", "2", "--units", "8",
                      "--seq_len", "20", "--batch_size", "32"], cwd=tmp_path, env={"MLFLOW_TRACKING_URI": ""})
    assert "after_training    gru    ‖∂L/∂h‖ 19 steps back / at the loss:" in result.stdout
    assert (tmp_path / "grad" / "gradient_flow.png").stat().st_size > 10000
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("gradients").experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert {"far_to_near_rnn", "far_to_near_gru"} <= set(parent.data.metrics)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 2  # one nested training run per cell
