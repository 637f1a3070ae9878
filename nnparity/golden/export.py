"""``nnparity golden export``: every case's inputs, the reference's answers and the tolerances, on disk."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from nnparity import atomic, report
from nnparity.golden.read import FORMAT, sha256
from nnparity.selection import LabelledSpec, label_specs
from reference import spec as S
from reference.checks import CHECKS, check_names, collect, make_case, optimizer_spec
from reference.checks.scheduled import Scheduled
from reference.checks.scheduled import steps as scheduled_steps
from reference.checks.steps import Step
from reference.implementation import NumpyImplementation
from reference.judge import Judge


def _save(folder: Path, name: str, arrays: dict) -> None:
    with atomic.replacing(folder / name) as tmp:
        np.savez(tmp, **{k: np.asarray(v) for k, v in arrays.items()})


def folder_name(label: str, dtype: str) -> str:
    """A plain directory name for a case (a label ``name@path`` carries a path's separators)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label) + f"-{dtype}"


def export_case(ls: LabelledSpec, dtype: str, directory: Path, steps: int) -> str:
    spec, name = ls.spec, folder_name(ls.label, dtype)
    folder = directory / name
    folder.mkdir(parents=True, exist_ok=True)
    case = make_case(spec, dtype, steps=steps)
    applicable = check_names(spec)
    judge = Judge(case, ls.label).prepare(applicable)
    meta, inputs = case.to_arrays()
    _save(folder, "inputs.npz", inputs)
    ref = NumpyImplementation()
    checks = {}
    for check in applicable:
        c = CHECKS[check]
        tol, tols = judge.tolerance(check)
        entry = {"tolerance": tol, "expected": None if check == "weights" else c.golden_file}
        if isinstance(c, Step):
            opt = optimizer_spec(c.key, case)
            entry["optimizer"] = {"name": opt.name, "params": opt.params}
            if opt.clip is not None:
                entry["optimizer"]["clip"] = {"rule": opt.clip.rule, "threshold": opt.clip.threshold, "epsilon": opt.clip.epsilon}
            # The reference's own steps, end to end, for readers that compare updates directly.
            _save(folder, c.golden_file, collect(ref, judge.ref_case, check))
        elif isinstance(c, Scheduled):
            opt = c.spec(spec).optimizer
            entry["optimizer"] = {"name": opt.name, "params": opt.params,
                                  "schedule": {"name": opt.schedule.name, **opt.schedule.params},
                                  "steps": scheduled_steps(case), "steps_per_epoch": case.steps_per_epoch}
            _save(folder, c.golden_file, collect(ref, judge.ref_case, check))
        elif c.shares is None and check != "weights":
            _save(folder, c.golden_file, judge.reference(check))
        if check == "early-stopping":
            entry["tolerances"] = tols  # per epoch run, then the final weights'
        if check == "trajectory":
            entry["tolerances"] = tols
            entry["horizon"], entry["growth"] = judge.chaos()
        checks[check] = entry
    files = sorted({"inputs.npz"} | {e["expected"] for e in checks.values() if e["expected"]})
    manifest = {"format": FORMAT, "case": ls.label, "spec": S.to_dict(spec), "dtype": dtype, "device": "cpu",
                "tensor_names": case.names, "state_names": case.state_names, "n_batches": len(case.batches),
                "mask_layers": meta["mask_layers"], "checks": checks,
                "files": {f: {"sha256": sha256(folder / f), "bytes": (folder / f).stat().st_size} for f in files}}
    report.write_json(folder / "manifest.json", manifest)
    return name


def export(directory: Path, specs: list, dtypes: list[str], steps: int, progress=lambda name: None) -> list[str]:
    """Every spec (names, paths or LabelledSpecs) in every dtype under ``directory``; the case folder names."""
    specs = label_specs(list(specs))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for ls in specs:
        for dtype in dtypes:
            names.append(export_case(ls, dtype, directory, steps))
            progress(names[-1])
    report.write_json(directory / "index.json", {"format": FORMAT, "cases": names,
                                                 "provenance": report.provenance(f"nnparity golden export {directory}")})
    return names
