"""nnparity's parity suite for one outside implementation (``pytest --nnparity-impl module:Class``).

Every spec x dtype x check of ``nnparity check``, as tests. The implementation runs in a worker
process with a per-check timeout; one (spec, dtype) is computed when its first test runs.
"""
from __future__ import annotations

import pytest

from nnparity import registry, report, runner
from nnparity.pytest_plugin import implementation
from reference import spec as S
from reference.checks import check_names


def pytest_generate_tests(metafunc):
    if "nnparity_cell" not in metafunc.fixturenames:
        return
    config = metafunc.config
    impl = implementation(config)
    specs = config.getoption("nnparity_spec") or config.getini("nnparity_specs") or S.bundled_names()
    dtypes = config.getoption("nnparity_dtype") or ["float64", "float32"]
    cells = [(s, d, c) for s in specs for d in dtypes for c in check_names()]
    metafunc.parametrize("nnparity_cell", cells, ids=[runner.Outcome(s, impl, d, "cpu", c, "").id for s, d, c in cells])


class _Cells:
    def __init__(self, impl: str, timeout: float):
        self.impl, self.timeout, self.pool, self.cells, self.done = impl, timeout, {}, {}, set()

    def get(self, spec: str, dtype: str, check: str) -> runner.Outcome:
        if (spec, dtype) not in self.done:
            sel = runner.Selection([spec], [self.impl], [dtype], ["cpu"], check_names())
            for o in runner.run(sel, lambda name: registry.make(name, timeout=self.timeout), timeout=self.timeout, pool=self.pool):
                self.cells[o.check, o.spec, o.dtype] = o
            self.done.add((spec, dtype))
        return self.cells[check, S.load(spec).name, dtype]


@pytest.fixture(scope="session")
def nnparity_cells(request):
    cells = _Cells(implementation(request.config), request.config.getoption("nnparity_timeout"))
    yield cells
    runner.close_pool(cells.pool)


def test_nnparity(nnparity_cells, nnparity_cell):
    spec, dtype, check = nnparity_cell
    o = nnparity_cells.get(spec, dtype, check)
    if o.status == "skip":
        pytest.skip(o.message)
    assert o.status == "pass", report.explain(o)
