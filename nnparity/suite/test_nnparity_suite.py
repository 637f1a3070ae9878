"""nnparity's parity suite for one outside implementation (``pytest --nnparity-impl module:Class``).

Every spec x dtype x check of ``nnparity check``, as tests. The implementation runs in a worker
process with a per-check timeout; one (spec, dtype) is computed when its first test runs. A cell the
implementation declines (``supports``) or cannot run here is a skip with the reason.
"""
from __future__ import annotations

import pytest

from nnparity import report, runner
from reference.checks import check_names


def _session(config):
    return config.pluginmanager.get_plugin("nnparity-session")


def pytest_generate_tests(metafunc):
    if "nnparity_cell" not in metafunc.fixturenames:
        return
    s = _session(metafunc.config)
    cells = [(ls.label, d, c) for ls in s.specs for d in s.dtypes for c in check_names(ls.spec, s.replicas)]
    metafunc.parametrize("nnparity_cell", cells, ids=[runner.Outcome(label, s.name, d, "cpu", c, "").id for label, d, c in cells])


class _Cells:
    def __init__(self, session):
        self.s, self.cells, self.done = session, {}, set()

    def get(self, label: str, dtype: str, check: str) -> runner.Outcome:
        if (label, dtype) not in self.done:
            labelled = [ls for ls in self.s.specs if ls.label == label]  # the session's labels (name@path where shared)
            sel = runner.Selection(labelled, [self.s.name], [dtype], ["cpu"], check_names(labelled[0].spec, self.s.replicas),
                                   replicas=self.s.replicas)
            for o in runner.run(sel, lambda name: self.s.impl, timeout=self.s.timeout, pool={(self.s.name, 0): self.s.impl}):
                self.cells[o.check, o.spec, o.dtype] = o
            self.done.add((label, dtype))
        return self.cells[check, label, dtype]


@pytest.fixture(scope="session")
def nnparity_cells(request):
    return _Cells(_session(request.config))


def test_nnparity(nnparity_cells, nnparity_cell):
    o = nnparity_cells.get(*nnparity_cell)
    if o.status in ("skip", "unsupported"):
        pytest.skip(f"{o.status}: {o.message}")
    assert o.status == "pass", report.plain(report.explain(o, verbose=True))
