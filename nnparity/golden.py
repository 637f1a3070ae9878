"""Golden files: every parity case written to disk, so an implementation in any language can be checked.

Layout (``docs/golden-format.md`` documents it for readers without Python)::

    DIR/index.json                      {"format": "nnparity-golden/1", "cases": [...], "provenance": {...}}
    DIR/<spec>-<dtype>/manifest.json    the spec, dtype, tensor names, per-check tolerances, files with SHA-256
    DIR/<spec>-<dtype>/inputs.npz       weights, inputs, targets, batch indices
    DIR/<spec>-<dtype>/expected-*.npz   the reference's answers, one file per check

``export`` computes the reference's answers and the tolerances once; ``verify`` checks every file's
size and SHA-256 first (a changed or truncated file is an error naming it, before anything runs),
then asks the implementation each check and judges it as ``nnparity parity`` does, with the stored
answers and tolerances.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from nnparity import atomic, report, runner
from reference import spec as S
from reference.checks import Case, check_names, collect, make_case, optimizer_spec
from reference.judge import Judge
from reference.errors import UserError
from reference.implementation import NumpyImplementation

FORMAT = "nnparity-golden/1"
EXPECTED = {"forward": "expected-forward.npz", "loss": "expected-grads.npz", "grads": "expected-grads.npz",
            "large-logits": "expected-large-logits.npz", "trajectory": "expected-trajectory.npz"}


class GoldenError(UserError):
    """A golden directory that is missing, malformed, changed or truncated."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _save(folder: Path, name: str, arrays: dict) -> None:
    with atomic.replacing(folder / name) as tmp:
        np.savez(tmp, **{k: np.asarray(v) for k, v in arrays.items()})


def case_inputs(case: Case) -> dict:
    arrays = {"x": case.x, "y": case.y, "pool_x": case.pool_x, "pool_y": case.pool_y}
    arrays.update({f"w{i}": w for i, w in enumerate(case.weights)})
    arrays.update({f"large{i}": w for i, w in enumerate(case.large_weights)})
    arrays.update({f"batch{k}": b for k, b in enumerate(case.batches)})
    arrays.update({f"sample{i}": s for i, s in enumerate(case.samples)})
    return arrays


def export_case(spec: S.Spec, dtype: str, directory: Path, steps: int) -> str:
    name = f"{spec.name}-{dtype}"
    folder = directory / name
    folder.mkdir(parents=True, exist_ok=True)
    case = make_case(spec, dtype, steps=steps)
    judge = Judge(case).prepare(check_names())
    _save(folder, "inputs.npz", case_inputs(case))
    ref = NumpyImplementation()
    checks = {"weights": {"expected": None, "tolerance": 0.0}}
    for check in check_names():
        if check == "weights":
            continue
        tol, tols = judge.tolerance(check)
        entry = {"tolerance": tol}
        if check.startswith("step-"):
            opt = optimizer_spec(check[5:])
            entry.update(expected=f"expected-{check}.npz", optimizer={"name": opt.name, "params": opt.params})
            # The reference's own steps, end to end, for readers that compare updates directly.
            _save(folder, entry["expected"], collect(ref, judge.ref_case, check))
        else:
            entry["expected"] = EXPECTED[check]
            if check != "loss":  # loss and grads share expected-grads.npz
                _save(folder, entry["expected"], judge.reference(check))
        if check == "trajectory":
            entry["tolerances"] = tols
            entry["horizon"], entry["growth"] = judge.chaos()
        checks[check] = entry
    files = sorted({"inputs.npz"} | {e["expected"] for e in checks.values() if e["expected"]})
    manifest = {"format": FORMAT, "case": name, "spec": S.to_dict(spec), "dtype": dtype, "device": "cpu",
                "tensor_names": case.names, "n_batches": len(case.batches), "checks": checks,
                "files": {f: {"sha256": _sha256(folder / f), "bytes": (folder / f).stat().st_size} for f in files}}
    report.write_json(folder / "manifest.json", manifest)
    return name


def export(directory: Path, specs: list[str], dtypes: list[str], steps: int, progress=lambda name: None) -> list[str]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for spec_name in specs:
        for dtype in dtypes:
            names.append(export_case(S.load(spec_name), dtype, directory, steps))
            progress(names[-1])
    report.write_json(directory / "index.json", {"format": FORMAT, "cases": names,
                                            "provenance": report.provenance(f"nnparity golden export {directory}")})
    return names


# ---- verify -------------------------------------------------------------------------------------

def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise GoldenError(f"{path}: missing; is this a directory written by `nnparity golden export`?") from None
    except (OSError, ValueError) as exc:
        raise GoldenError(f"{path}: not readable JSON ({exc}); re-export it with `nnparity golden export`.") from None


def load_manifest(folder: Path) -> dict:
    """The case's manifest, after every file it lists has been checked for size and SHA-256."""
    manifest = _read_json(folder / "manifest.json")
    if manifest.get("format") != FORMAT:
        raise GoldenError(f"{folder / 'manifest.json'}: format {manifest.get('format')!r}, expected {FORMAT!r}.")
    for name, meta in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise GoldenError(f"{path}: listed in the manifest but missing.")
        size = path.stat().st_size
        if size != meta["bytes"] or _sha256(path) != meta["sha256"]:
            what = "truncated" if size < meta["bytes"] else "changed"
            raise GoldenError(f"{path}: SHA-256 mismatch ({what}: {size:,} bytes, manifest says {meta['bytes']:,}); "
                              "the golden data cannot be trusted: re-export it with `nnparity golden export`.")
    return manifest


def _arrays(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise GoldenError(f"{path}: not a readable .npz ({exc}).") from None


def load_case(folder: Path, manifest: dict) -> Case:
    a = _arrays(folder / "inputs.npz")
    n = len(manifest["tensor_names"])
    return Case(S.from_dict(manifest["spec"], str(folder / "manifest.json")), manifest["dtype"], manifest["device"],
                [a[f"w{i}"] for i in range(n)], a["x"], a["y"], a["pool_x"], a["pool_y"],
                [a[f"batch{k}"] for k in range(manifest["n_batches"])], [a[f"sample{i}"] for i in range(n)], (),
                [a[f"large{i}"] for i in range(n)])


class GoldenJudge(Judge):
    """A Judge whose reference answers come from the golden files instead of the reference."""

    def __init__(self, case: Case, folder: Path, manifest: dict):
        super().__init__(case)
        self.folder, self.manifest = folder, manifest

    def reference(self, check: str) -> dict:
        key = "loss" if check == "grads" else check
        if key not in self._cache:
            self._cache[key] = _arrays(self.folder / self.manifest["checks"][key]["expected"])
        return self._cache[key]

    def tolerance(self, check: str) -> tuple[float, list[float]]:
        entry = self.manifest["checks"][check]
        return entry["tolerance"], entry.get("tolerances", [])

    def chaos(self) -> tuple[int | None, float | None]:
        entry = self.manifest["checks"]["trajectory"]
        return entry.get("horizon"), entry.get("growth")


def verify(directory: Path, impl, checks: list[str] | None = None, timeout: float | None = None,
           progress=lambda o: None) -> list[runner.Outcome]:
    """Every case in ``directory`` (every checksum first), each check judged as the matrix judges it, hints included."""
    directory = Path(directory)
    index = _read_json(directory / "index.json")
    folders = [directory / name for name in index.get("cases", [])]
    loaded = [(f, load_manifest(f)) for f in folders]  # every checksum before any check runs
    hello = runner.greet(impl)
    outcomes = []
    for folder, manifest in loaded:
        case = load_case(folder, manifest)
        judge = GoldenJudge(case, folder, manifest)
        why = runner.unavailable(hello, impl.name, case.device)
        earlier: dict[str, runner.Outcome] = {}
        for check in checks or list(manifest["checks"]):
            if why is not None:
                o = runner.Outcome(judge.label, impl.name, case.dtype, case.device, check, "skip", message=why)
            else:
                o = runner.one(judge, impl, impl.name, check, timeout, earlier)
            earlier[check] = o
            outcomes.append(o)
            progress(o)
        if hasattr(impl, "release"):
            impl.release(case)
    return outcomes
