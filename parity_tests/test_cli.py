"""The CLI as a user meets it: exit codes, and no traceback for a user's mistake."""
import subprocess
import sys

import pytest

from nnparity.cli import main


def test_gradcheck_one_spec(capsys):
    assert main(["gradcheck", "gates_xor"]) == 0
    out = capsys.readouterr().out
    assert "layers[0].kernel" in out and "PASS" in out


def test_specs_and_show(capsys):
    assert main(["specs"]) == 0
    assert "digits_sigmoid50" in capsys.readouterr().out
    assert main(["show", "fashion_sigmoid400"]) == 0
    out = capsys.readouterr().out
    assert "318,010 parameters" in out and 'name = "fashion_sigmoid400"' in out


def test_bad_spec_file_exits_2_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nseed = 0\ninput_shape = [2]\nlayers = []\n')
    proc = subprocess.run([sys.executable, "-m", "nnparity.cli", "show", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "layers: the network has no layers" in proc.stderr
    assert "loss: expected a table" in proc.stderr or "loss.name: required" in proc.stderr


def test_bad_arguments_exit_2():
    with pytest.raises(SystemExit) as info:
        main(["gradcheck", "--rows", "many"])
    assert info.value.code == 2
