"""Reproductions: the committed results are complete, and a quick run gives the same numbers twice."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from nnparity.studies.catalog import STUDIES
from nnparity.studies.schema import validate

ROOT = Path(__file__).resolve().parents[1]
VOLATILE = {"seconds", "train_seconds", "wall_seconds", "seconds_by_framework", "timings", "date", "git_commit", "git_dirty",
            "command", "host"}


@pytest.mark.parametrize("study", list(STUDIES))
def test_committed_results_match_their_schema(study):
    path = ROOT / "results" / study / "results.json"
    assert path.is_file(), f"run `nnparity reproduce {study}` and commit results/{study}/"
    data = json.loads(path.read_text())
    assert validate(data, path.parent) == []
    assert data["provenance"]["quick"] is False, "the committed results are the full runs"
    assert (ROOT / "results" / "README.md").read_text().count(f"nnparity reproduce {study}") >= 1


def _numbers(value, path=""):
    """Every number in a result, by path, leaving out what legitimately differs between runs."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in VOLATILE:
                yield from _numbers(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, value


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory) -> list[Path]:
    """Two `reproduce all --quick` runs into their own folders (one run starts each framework once)."""
    folders = []
    for run in ("a", "b"):
        out = tmp_path_factory.mktemp(f"reproduce-{run}")
        proc = subprocess.run([sys.executable, "-m", "nnparity.cli", "reproduce", "all", "--quick", "--out", str(out)],
                              capture_output=True, text=True, timeout=1800, cwd=ROOT)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert (out / "README.md").is_file()
        folders.append(out)
    return folders


def _quick(out: Path, study: str) -> dict:
    data = json.loads((out / study / "results.json").read_text())
    assert validate(data, out / study) == []
    return data


@pytest.mark.parametrize("study", list(STUDIES))
def test_a_quick_reproduction_gives_identical_numbers_twice(study, quick_runs):
    first, second = (dict(_numbers(_quick(out, study))) for out in quick_runs)
    assert first.keys() == second.keys()
    differ = {k: (first[k], second[k]) for k in first
              if not (first[k] == second[k] or (isinstance(first[k], float) and math.isnan(first[k]) and math.isnan(second[k])))}
    assert differ == {}


def test_reproduce_rejects_an_unknown_study():
    proc = subprocess.run([sys.executable, "-m", "nnparity.cli", "reproduce", "cifar"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown study; known: fashion-mnist" in proc.stderr
