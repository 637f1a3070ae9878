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


def test_results_readme_names_an_unreadable_study_file_instead_of_failing(tmp_path, monkeypatch):
    """An --out folder may hold anything: a study file that is not JSON, nested past the bound, or too large is
    named in results/README.md with the command that rewrites it, and every other study is still shown."""
    from nnparity.studies import results_readme

    names = list(STUDIES)
    bad = {names[0]: b"{not json", names[1]: b"[" * 500, names[2]: b"{}" + b" " * 4096}
    for name, content in bad.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_bytes(content)
    monkeypatch.setattr(results_readme, "MAX_RESULTS_BYTES", 1024)
    text = results_readme.render(tmp_path)
    assert "not readable JSON" in text and "nested more than" in text and "far more than a study writes" in text
    for name in bad:
        assert f"rerun `nnparity reproduce {name}`" in text
    assert all(STUDIES[name].TITLE in text for name in names)  # the rest of the file is still written


def test_the_replicated_grid_ends_where_one_process_does(quick_runs):
    """torch over 2 DDP replicas (its ``train``: every step on every replica) and Keras on JAX over 2 devices against
    the reference and each framework in one process: the same test accuracy, and final weights within the trajectory
    bound, in every quick cell."""
    grid = _quick(quick_runs[0], "breast-cancer-replicas")["results"]["grid"]
    assert grid and all(c["same_accuracy"] and c["within_bound"] for c in grid.values()), grid
    assert all(0 <= c["weight_gap"][k] <= c["weight_bound"] for c in grid.values() for k in ("torch-x2", "keras-jax-x2"))
