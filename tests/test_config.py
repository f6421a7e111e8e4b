import pytest

from kerasseq.config import parse_overrides
from kerasseq.errors import UserError
from kerasseq.tasks import get_task

CharLMConfig = get_task("charlm").config_class


def test_overrides_are_typed():
    config = parse_overrides(CharLMConfig, ["--units", "128", "--dropout", "0.1", "--cell", "gru",
                                            "--download", "true", "--learning-rate", "0.01"])
    assert (config.units, config.dropout, config.cell, config.download, config.learning_rate) == (
        128, 0.1, "gru", True, 0.01)
    assert parse_overrides(CharLMConfig, []) == CharLMConfig()


@pytest.mark.parametrize("argv, message", [
    (["--unit", "3"], "unrecognized arguments: --unit 3; known parameters: --epochs"),
    (["--units", "3.5"], "--units expects an integer; got '3.5'"),
    (["--download", "maybe"], "--download expects true or false; got 'maybe'"),
    (["--jit_compile", "always"], "--jit_compile must be one of auto, true, false"),
    (["--learning_rate", "-1"], "--learning_rate must be > 0"),
    (["--precision", "float8"], "--precision must be one of float32, bfloat16, float16"),
    (["--distribute", "pipeline"], "--distribute must be one of none, data, model"),
    (["--coordinator", "node0"], "--coordinator must be HOST:PORT"),
    (["--num_processes", "-2"], "--num_processes must be >= 0"),
])
def test_bad_overrides(argv, message):
    with pytest.raises(UserError) as info:
        parse_overrides(CharLMConfig, argv)
    assert message in str(info.value)


def test_config_dict_round_trip():
    from kerasseq.config import config_from_dict

    config = CharLMConfig(units=7)
    assert config_from_dict(CharLMConfig, config.to_dict()) == config
    with pytest.raises(UserError, match="unknown keys"):
        config_from_dict(CharLMConfig, {**config.to_dict(), "colour": "red"})


def test_config_cells_match_the_builder():
    from kerasseq.models.recurrent import CELL_NAMES
    from kerasseq.tasks.configs import RECURRENT_CELLS

    assert RECURRENT_CELLS == CELL_NAMES


def test_cli_checks_need_no_tensorflow():
    import subprocess
    import sys

    code = ("import sys; from kerasseq.cli import main; rc = main(['train', 'charlm', '--units', 'x']);"
            "assert rc == 2; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
