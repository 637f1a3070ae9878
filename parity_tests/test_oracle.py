"""The oracle for implementations nobody here wrote: broken ones are caught (right check, tensor, hint);
the packaged JAX example passes; the pytest plugin and golden files work for a user's CI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnparity import golden, registry, runner
from parity_tests.plugins import broken
from reference import spec as S
from reference.checks import CHECKS, check_names
from reference.worker import InProcess

ROOT = Path(__file__).resolve().parents[1]


def run(impl, spec: str, checks: list[str], dtypes=("float64", "float32")) -> dict[str, runner.Outcome]:
    sel = runner.Selection([spec], [impl.name], list(dtypes), ["cpu"], checks)
    return {f"{o.dtype}:{o.check}": o for o in runner.run(sel, lambda name: InProcess(impl))}


# (broken implementation, spec, the check that must fail, its first diverging tensor, step, hint fragment,
#  a check that must still pass)
CAUGHT = [
    (broken.WrongActivationDerivative, "digits_sigmoid50", "grads", "layers[0].kernel", 0,
     "sigmoid'(z) computed as a instead of a (1 - a)", "forward"),
    (broken.MissingBiasGradient, "digits_sigmoid50", "grads", "layers[1].bias", 0, "bias gradients all zero: BP3", "loss"),
    (broken.TransposedKernel, "digits_sigmoid50", "weights", "layers[0].kernel", 0, "crossed the protocol as (out, in)", "forward"),
    (broken.AdamWithoutBiasCorrection, "digits_even_odd", "step-adam", "layers[1].kernel", 0, "Adam without bias correction", "step-sgd"),
    (broken.L2FactorOff, "digits_sigmoid50", "grads", "layers[1].kernel", 0, "its gradient l2 W instead of 2 l2 W", "forward"),
    (broken.MomentumSignError, "digits_even_odd", "step-momentum", "layers[1].kernel", 1, "the momentum's sign", "step-nesterov"),
    (broken.UnshiftedSoftmax, "fashion_sigmoid400", "large-logits", "output", 0, "a softmax without its max shift", "grads"),
    (broken.SkipsFirstStateInit, "digits_even_odd", "step-momentum", "layers[1].kernel", 1, "first step's state is not kept", "step-adam"),
]


@pytest.mark.parametrize("cls, spec, check, tensor, step, hint, unaffected", CAUGHT, ids=[c[0].name for c in CAUGHT])
def test_each_broken_implementation_is_caught_where_it_is_broken(cls, spec, check, tensor, step, hint, unaffected):
    out = run(cls(), spec, [unaffected, check], dtypes=("float64",))
    o = out[f"float64:{check}"]
    assert o.status == "fail", o
    assert o.failure["tensor"] == tensor and o.failure["step"] == step, o.failure
    assert any(hint in h for h in o.hints), o.hints
    assert out[f"float64:{unaffected}"].status == "pass"


def test_the_unbroken_reference_passes_everything_with_no_hints():
    out = run(broken.NumpyImplementation(), "digits_even_odd", check_names(S.load("digits_even_odd")))
    assert all(o.status == "pass" and not o.hints for o in out.values())


def test_the_jax_example_passes(tmp_path):
    """`nnparity check --impl jax-mlp` (its entry point) on specs that cover every activation, loss, reduction and
    bias-less layers; results/examples/ holds its full check."""
    assert "jax-mlp" in registry.plugins(), "the example is installed by `make test` (pip install -e examples/jax_mlp)"
    report = tmp_path / "check.json"
    specs = ["coverage_activations", "coverage_softmax_half_sse", "fashion_sigmoid400_numpy", "gates_xor"]
    cmd = [sys.executable, "-m", "nnparity.cli", "check", "--impl", "jax-mlp", *(a for name in specs for a in ("--spec", name)),
           "--json", str(report)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:]
    summary = json.loads(report.read_text())["summary"]
    # It trains for a fixed number of steps (no fit): coverage_softmax_half_sse's early-stopping check is declined.
    stopping = sum(S.load(name).training.early_stopping is not None for name in specs)
    assert summary == {"pass": 2 * (sum(len(check_names(S.load(name))) for name in specs) - stopping), "unsupported": 2 * stopping}


def _pytest(args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], capture_output=True, text=True,
                          timeout=900, cwd=cwd, env=env)


def test_pytest_plugin_runs_the_suite_on_a_users_implementation(tmp_path):
    ok = _pytest(["--nnparity-impl", "reference.implementation:NumpyImplementation", "--nnparity-spec", "gates_xor"], tmp_path)
    assert ok.returncode == 0, ok.stdout[-3000:]
    assert f"{2 * len(check_names(S.load('gates_xor')))} passed" in ok.stdout
    (tmp_path / "pytest.ini").write_text("[pytest]\nnnparity_impl = parity_tests.plugins.broken:L2FactorOff\n"
                                         "nnparity_specs = breast_cancer_relu10\n")
    bad = _pytest(["-k", "float64-grads"], tmp_path)
    assert bad.returncode == 1, bad.stdout[-3000:]
    assert "breast_cancer_relu10-parity_tests.plugins.broken:L2FactorOff-float64-grads" in bad.stdout
    assert "L2 factor?" in bad.stdout and "[yellow]" not in bad.stdout and "[red]" not in bad.stdout


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("golden")
    golden.export(directory, ["gates_xor", "digits_even_odd"], ["float64", "float32"], steps=10)
    return directory


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_the_reference_verifies_against_its_own_export(exported):
    outcomes = golden.verify(exported, registry.make("numpy"))
    per_spec = {name: check_names(S.load(name)) for name in ("gates_xor", "digits_even_odd")}
    assert len(outcomes) == 2 * sum(map(len, per_spec.values())) and all(o.status == "pass" for o in outcomes)
    manifest = json.loads((exported / "gates_xor-float32" / "manifest.json").read_text())
    assert set(manifest["checks"]) == set(per_spec["gates_xor"]) and manifest["files"]["inputs.npz"]["sha256"]


def test_one_changed_number_fails_that_case(exported, tmp_path):
    d = _copy(exported, tmp_path / "g")
    case = d / "digits_even_odd-float64"
    path = case / CHECKS["grads"].golden_file  # loss and grads share one file
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    key = "grads/layers[1].kernel"
    arrays[key] = arrays[key].copy()
    arrays[key][1, 0] *= 1.001
    np.savez(path, **arrays)
    manifest = json.loads((case / "manifest.json").read_text())
    manifest["files"][path.name] = {"sha256": golden._sha256(path), "bytes": path.stat().st_size}
    (case / "manifest.json").write_text(json.dumps(manifest))
    failed = [o for o in golden.verify(d, registry.make("numpy")) if o.status != "pass"]
    assert [(o.spec, o.dtype, o.check, o.failure["tensor"]) for o in failed] == [("digits_even_odd", "float64", "grads", "layers[1].kernel")]


def test_a_tampered_or_truncated_file_is_a_clear_error(exported, tmp_path):
    d = _copy(exported, tmp_path / "t")
    path = d / "gates_xor-float64" / "expected-forward.npz"
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(golden.GoldenError, match=r"gates_xor-float64/expected-forward.npz: SHA-256 mismatch \(changed"):
        golden.verify(d, registry.make("numpy"))
    path.write_bytes(bytes(data[: len(data) // 2]))
    proc = subprocess.run([sys.executable, "-m", "nnparity.cli", "golden", "verify", str(d), "--impl", "numpy"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "SHA-256 mismatch (truncated" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("cls, tensor", [(broken.MissingBiasGradient, "layers[1].bias"), (broken.L2FactorOff, "layers[1].kernel")],
                         ids=["no-bias-gradient", "l2-factor"])
def test_a_gradient_mistake_also_derails_training_and_is_a_failure_not_an_error(cls, tensor):
    """``step`` takes its gradients from the same ``loss_and_grads`` (with its buffers): the mistake must
    show in the trajectory as a FAIL on the right tensor, never crash the check."""
    o = run(cls(), "digits_sigmoid50", ["trajectory"], dtypes=("float64",))["float64:trajectory"]
    assert o.status == "fail", o.message
    assert (o.failure["tensor"], o.failure["step"]) == (tensor, 0), o.failure
