"""The parity matrix as tests: one per spec x implementation x dtype x device x check.

Ids read like the CLI's cells: ``digits_sigmoid50-keras-jax-float32-step-adam``. The cells of one
(spec, dtype, device) are computed together, for every implementation at once, the first time a
test asks for one of them. CUDA cells carry the ``gpu`` marker and skip cleanly without a GPU.
"""
from __future__ import annotations

import pytest

from nnparity import registry, report, runner
from reference import spec as S
from reference.checks import check_names

SPECS = S.bundled_names()
IMPLS = registry.names()
DTYPES = ["float64", "float32"]
CHECKS = check_names()


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


class Matrix:
    """Cells computed one (spec, dtype, device) group at a time, by workers that live for the session."""

    def __init__(self):
        self.cells: dict[str, runner.Outcome] = {}
        self.done: set[tuple] = set()
        self.pool: dict = {}

    def outcome(self, spec: str, impl: str, dtype: str, device: str, check: str) -> runner.Outcome:
        group = (spec, dtype, device)
        if group not in self.done:
            sel = runner.Selection([spec], IMPLS, [dtype], [device], CHECKS)
            for o in runner.run(sel, registry.make, pool=self.pool):
                self.cells[o.id] = o
            self.done.add(group)
        return self.cells[runner.Outcome(spec, impl, dtype, device, check, "").id]


@pytest.fixture(scope="session")
def matrix():
    m = Matrix()
    yield m
    runner.close_pool(m.pool)


def _params(device: str):
    marks = [pytest.mark.gpu] if device == "cuda" else []
    return [pytest.param(s, i, d, device, c, id=runner.Outcome(s, i, d, device, c, "").id, marks=marks)
            for s in SPECS for d in DTYPES for i in IMPLS for c in CHECKS]


def _assert_cell(matrix: Matrix, spec, impl, dtype, device, check):
    o = matrix.outcome(spec, impl, dtype, device, check)
    if o.status == "skip":
        pytest.skip(o.message)
    assert o.status == "pass", report.explain(o)
    assert o.max_rel is not None and o.max_rel <= o.tol


@pytest.mark.parametrize("spec, impl, dtype, device, check", _params("cpu"))
def test_parity_cpu(matrix, spec, impl, dtype, device, check):
    _assert_cell(matrix, spec, impl, dtype, device, check)


@pytest.mark.parametrize("spec, impl, dtype, device, check", _params("cuda"))
def test_parity_cuda(matrix, spec, impl, dtype, device, check):
    if not _cuda_available():
        pytest.skip("no CUDA device here")
    _assert_cell(matrix, spec, impl, dtype, device, check)


def test_float64_meets_the_issue_target_everywhere(matrix):
    """Every aligned float64 cell on the CPU within 1e-10 (chaotic trajectories excepted: see tolerance.py)."""
    worst = []
    for spec in SPECS:
        for impl in IMPLS:
            for check in CHECKS:
                o = matrix.outcome(spec, impl, "float64", "cpu", check)
                if o.status == "pass" and not (check == "trajectory" and o.horizon is not None):
                    worst.append((o.max_rel, o.id))
    assert max(worst)[0] <= 1e-10, max(worst)
