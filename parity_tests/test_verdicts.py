"""Verdicts a user can trust, met as a user meets them (the CLI and the pytest plugin, as subprocesses): never
green on nothing, spec files by path, an honest status for every cell, one line per error."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnparity import golden, report, runner
from reference import spec as S

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = "parity_tests.plugins.misbehaving"
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), "COLUMNS": "200"}


def cli(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnparity.cli", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd, env=ENV)


def plugin_pytest(args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd, env=ENV)


def spec_file(tmp: Path, file: str, name: str, **changes) -> Path:
    """gates_xor under another ``name`` (and optimizer learning rate), written as ``file``."""
    text = S.dumps(S.load("gates_xor")).replace('name = "gates_xor"', f'name = "{name}"')
    for old, new in changes.items():
        text = text.replace(old, new)
    path = tmp / file
    path.write_text(text)
    return path


# ---- never green on nothing ----------------------------------------------------------------------------

@pytest.mark.parametrize("impl, named", [
    ("no_such_package.net:Net", ["no_such_package.net:Net", "No module named 'no_such_package'"]),
    (f"{PLUGINS}:NoSuchClass", [f"{PLUGINS}:NoSuchClass", "NoSuchClass"]),
    (f"{PLUGINS}:Unavailable", ["cannot run here", "needs a GPU driver this machine lacks"]),
])
@pytest.mark.parametrize("command", [["check", "--spec", "gates_xor"], ["parity", "--spec", "gates_xor", "--check", "grads"]])
def test_an_implementation_that_cannot_load_is_a_usage_error_and_nothing_runs(command, impl, named):
    proc = cli(*command, "--impl", impl)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert all(n in proc.stderr for n in named), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and "PASS" not in proc.stdout and "┃" not in proc.stdout


def test_golden_verify_refuses_an_implementation_that_cannot_load(tmp_path):
    golden.export(tmp_path / "g", ["gates_xor"], ["float64"], steps=2)
    proc = cli("golden", "verify", str(tmp_path / "g"), "--impl", f"{PLUGINS}:Unavailable")
    assert proc.returncode == 2 and "cannot run here" in proc.stderr and "Traceback" not in proc.stderr


def test_a_run_where_every_cell_is_declined_is_nothing_checked_not_a_pass(tmp_path):
    proc = cli("check", "--impl", f"{PLUGINS}:DeclinesEverything", "--spec", "gates_xor", "--check", "grads",
               "--check", "forward", "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 1, proc.stdout
    assert "NOTHING CHECKED" in proc.stdout and "PASS" not in proc.stdout
    assert "this implementation does no float64 arithmetic" in proc.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["summary"] == {"unsupported": 4}
    assert {o["status"] for o in data["outcomes"]} == {"unsupported"}


def test_the_pytest_plugin_refuses_an_unloadable_implementation_and_fails_on_nothing_checked(tmp_path):
    bad = plugin_pytest(["--nnparity-impl", "no_such_package.net:Net"], tmp_path)
    assert bad.returncode == 4, bad.stdout + bad.stderr  # pytest's usage error
    assert "no_such_package" in bad.stderr and "No module named" in bad.stderr
    nothing = plugin_pytest(["--nnparity-impl", f"{PLUGINS}:DeclinesEverything", "--nnparity-spec", "gates_xor"], tmp_path)
    assert nothing.returncode == 1, nothing.stdout[-2000:]
    assert "NOTHING CHECKED" in nothing.stdout and "unsupported: gates_xor" in nothing.stdout + nothing.stderr or \
        "NOTHING CHECKED" in nothing.stdout


# ---- specs by path --------------------------------------------------------------------------------------

def test_spec_files_are_taken_by_path_whatever_their_name_field_says(tmp_path):
    path = spec_file(tmp_path, "my_gate.toml", "not_the_file_name")
    proc = cli("parity", "--spec", str(path), "--impl", "numpy", "--check", "grads", "--json", str(tmp_path / "p.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = [o["id"] for o in json.loads((tmp_path / "p.json").read_text())["outcomes"]]
    assert ids == ["not_the_file_name-numpy-float64-grads", "not_the_file_name-numpy-float32-grads"]
    proc = cli("check", "--spec", str(path), "--impl", "numpy", "--check", "loss")
    assert proc.returncode == 0 and "not_the_file_name" in proc.stdout


def test_two_files_whose_specs_share_a_name_both_run_under_their_paths(tmp_path):
    a = spec_file(tmp_path, "a.toml", "shared")
    b = spec_file(tmp_path, "b.toml", "shared", **{"learning_rate = 0.1": "learning_rate = 0.05"})
    sel = runner.Selection([str(a), str(b)], ["numpy"], ["float64"], ["cpu"], ["grads"])
    assert sel.labels == [f"shared@{a}", f"shared@{b}"]
    proc = cli("parity", "--spec", str(a), "--spec", str(b), "--impl", "numpy", "--check", "step-sgd", "--dtype", "float64",
               "--json", str(tmp_path / "p.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outcomes = json.loads((tmp_path / "p.json").read_text())["outcomes"]
    assert [o["spec"] for o in outcomes] == [f"shared@{a}", f"shared@{b}"]


def test_the_pytest_plugin_takes_spec_paths(tmp_path):
    path = spec_file(tmp_path, "gate.toml", "renamed_gate")
    proc = plugin_pytest(["--nnparity-impl", "reference.implementation:NumpyImplementation", "--nnparity-spec", str(path),
                          "--nnparity-dtype", "float64", "-k", "grads or loss"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "2 passed" in proc.stdout


# ---- every cell an honest status ------------------------------------------------------------------------

def test_a_partial_implementation_declines_cells_with_reasons_everywhere(tmp_path):
    """supports(): the cells it declines are 'unsupported' in the table, the JSON, pytest (a skip with the reason)
    and golden verify — never an error, never a pass; the rest are checked."""
    proc = cli("check", "--impl", f"{PLUGINS}:SupportsFloat64Only", "--spec", "gates_xor", "--check", "grads",
               "--json", str(tmp_path / "c.json"))
    assert proc.returncode == 0, proc.stdout
    assert "unsupported" in proc.stdout and "computes in float64 only (asked for float32)" in proc.stdout
    statuses = {o["dtype"]: o["status"] for o in json.loads((tmp_path / "c.json").read_text())["outcomes"]}
    assert statuses == {"float64": "pass", "float32": "unsupported"}
    pt = plugin_pytest(["--nnparity-impl", f"{PLUGINS}:SupportsFloat64Only", "--nnparity-spec", "gates_xor", "-rs",
                        "-k", "grads"], tmp_path)
    assert pt.returncode == 0 and "1 passed, 1 skipped" in pt.stdout and "unsupported: computes in float64 only" in pt.stdout
    golden.export(tmp_path / "g", ["gates_xor"], ["float64", "float32"], steps=2)
    gv = cli("golden", "verify", str(tmp_path / "g"), "--impl", f"{PLUGINS}:SupportsFloat64Only", "--check", "grads")
    assert gv.returncode == 0 and "unsupported" in gv.stdout, gv.stdout


def test_an_error_is_one_line_and_its_traceback_is_there_when_asked_for(tmp_path):
    proc = cli("check", "--impl", f"{PLUGINS}:Raises", "--spec", "gates_xor", "--check", "grads", "--json",
               str(tmp_path / "e.json"))
    assert proc.returncode == 1
    lines = [ln for ln in proc.stdout.splitlines() if "this plugin has no gradients yet" in ln and "ERROR" in ln]
    assert lines and "Traceback" not in proc.stdout and "--verbose" in proc.stdout
    detail = json.loads((tmp_path / "e.json").read_text())["outcomes"][0]["detail"]
    assert "Traceback" in detail and "loss_and_grads" in detail
    verbose = cli("check", "--impl", f"{PLUGINS}:Raises", "--spec", "gates_xor", "--check", "grads", "--verbose")
    assert "Traceback" in verbose.stdout and verbose.stdout.count("Traceback") == 1  # once, not per cell


# ---- what a user reads ---------------------------------------------------------------------------------

def test_a_failure_paragraph_says_when_the_tables_number_is_another_steps():
    o = runner.Outcome("s", "i", "float64", "cpu", "trajectory", "fail", max_rel=0.5, tol=1e-3, curve=[1e-2, 0.5],
                       tols=[1e-3, 1e-3], worst={"tensor": "layers[0].bias", "step": 1, "max_rel": 0.5},
                       failure={"tensor": "layers[1].kernel", "step": 0, "max_rel": 1e-2, "max_abs": 1e-2, "tol": 1e-3})
    text = report.plain(report.explain(o))
    assert "first divergence in layers[1].kernel at step 1" in text
    assert "the table's 5.0e-01 is the worst over all steps (layers[0].bias at step 2)" in text


def test_golden_verify_gives_the_same_hints_as_check(tmp_path):
    golden.export(tmp_path / "g", ["digits_sigmoid50"], ["float64"], steps=2)
    proc = cli("golden", "verify", str(tmp_path / "g"), "--impl", "parity_tests.plugins.broken:MissingBiasGradient",
               "--check", "forward", "--check", "grads")
    assert proc.returncode == 1
    assert "hint" in proc.stdout and "bias gradients all zero" in proc.stdout


def test_rich_markup_in_user_text_is_printed_not_interpreted(tmp_path):
    odd = tmp_path / "[" / "x]"  # the path reads ...[/x]..., a closing tag to rich
    odd.mkdir(parents=True)
    a = spec_file(odd, "[red]a.toml", "same")
    b = spec_file(tmp_path, "b.toml", "same", **{"learning_rate = 0.1": "learning_rate = 0.05"})
    proc = cli("parity", "--spec", str(a), "--spec", str(b), "--impl", "numpy", "--check", "loss", "--dtype", "float64")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[/x]/[red]a.toml" in proc.stdout.replace("\n", "")
