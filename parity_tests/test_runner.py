"""The matrix keeps going: a missing implementation is a skip, one that raises, crashes or hangs is an
ERROR cell, and every other cell still runs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnparity import registry, runner
from reference.worker import InProcess, Worker

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = "parity_tests.plugins.misbehaving"


@pytest.fixture(autouse=True)
def importable_plugins(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def run(impls: dict, checks=("weights", "forward", "grads"), dtypes=("float32",), timeout=60.0) -> dict[str, runner.Outcome]:
    sel = runner.Selection(["gates_xor"], list(impls), list(dtypes), ["cpu"], list(checks))
    return {f"{o.impl}:{o.check}": o for o in runner.run(sel, lambda n: impls[n], timeout=timeout)}


def worker(cls: str, timeout: float = 60.0) -> Worker:
    return Worker(cls.lower(), f"{PLUGINS}:{cls}", timeout=timeout)


def test_raising_crashing_and_hanging_implementations_are_errors_and_the_rest_runs():
    out = run({"numpy": registry.make("numpy"), "raises": worker("Raises"), "dies": worker("Dies"),
               "hangs": worker("Hangs")}, timeout=5.0)
    assert all(out[f"numpy:{c}"].status == "pass" for c in ("weights", "forward", "grads"))
    assert out["raises:grads"].status == "error" and "this plugin has no gradients yet" in out["raises:grads"].message
    assert out["raises:forward"].status == "pass"
    assert out["dies:forward"].status == "error"
    assert "exited (code 3)" in out["dies:forward"].message and "about to crash" in out["dies:forward"].detail
    assert out["dies:grads"].status == "pass"  # a fresh worker answers the next check
    assert out["hangs:forward"].status == "error" and "no answer to 'collect' within 5 s" in out["hangs:forward"].message
    assert out["hangs:grads"].status == "pass"


@pytest.mark.parametrize("cls, check, problem", [
    ("WrongShape", "forward", "shape (4, 0), expected (4, 1)"),
    ("WrongDtype", "forward", "dtype float64, expected float32"),
    ("ReturnsNaN", "grads", "1 non-finite value(s), first at (0,)"),
    ("ReturnsInf", "forward", "1 non-finite value(s), first at (2, 0)"),
])
def test_malformed_answers_fail_with_the_reason(cls, check, problem):
    impl = InProcess(getattr(__import__(PLUGINS, fromlist=[cls]), cls)())
    out = run({impl.name: impl}, checks=(check,))
    o = out[f"{impl.name}:{check}"]
    assert o.status == "fail"
    assert o.failure["problem"] == problem


def test_a_missing_implementation_is_a_skip_with_its_reason():
    out = run({"numpy": registry.make("numpy"), "absent": registry.Unavailable("absent", "absent is not installed")})
    assert out["absent:forward"].status == "skip" and out["absent:forward"].message == "absent is not installed"
    assert out["numpy:forward"].status == "pass"


def test_cli_exit_codes_and_json(tmp_path):
    path = tmp_path / "p.json"
    cmd = [sys.executable, "-m", "nnparity.cli", "parity", "--spec", "gates_xor", "--impl", "numpy", "--impl", "torch",
           "--check", "grads", "--check", "step", "--json", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(path.read_text())
    assert data["summary"] == {"pass": 2 * 2 * 12}
    assert data["provenance"]["versions"]["torch"] == "2.13.0+cpu" or data["provenance"]["versions"]["torch"].startswith("2.13.0")
    assert {o["id"] for o in data["outcomes"]} >= {"gates_xor-torch-float32-step-adam", "gates_xor-numpy-float64-grads"}
    for bad, message in ((["--impl", "mxnet"], "--impl mxnet: unknown"), (["--check", "speed"], "--check speed: unknown"),
                         (["--spec", "nope"], "nope: no such spec file"), (["--steps", "0"], "--steps: 0: must be at least 1")):
        proc = subprocess.run([sys.executable, "-m", "nnparity.cli", "parity", *bad], capture_output=True, text=True)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_every_case_has_its_own_identity_even_after_the_last_is_freed():
    """Workers know cases by uid; id() would be reused once a case is freed (and was, before uid)."""
    from reference import spec as S
    from reference.checks import make_case

    seen = set()
    for _ in range(20):
        case = make_case(S.load("gates_xor"), "float32", steps=2)
        assert case.uid not in seen
        seen.add(case.uid)
        del case
