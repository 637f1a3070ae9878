"""A pytest plugin: ``pytest --nnparity-impl module:Class`` checks an implementation in its own CI.

Registered through the ``pytest11`` entry point, so it is active wherever nnparity is installed and
does nothing until it is asked: with ``--nnparity-impl`` (or ``nnparity_impl = module:Class`` in the
ini file) it adds nnparity's parity suite (``nnparity/suite/``) to the session, one test per spec x
dtype x check, ids like ``digits_sigmoid50-mypkg:MyImpl-float32-step-adam``.

Never green on nothing: an implementation that cannot be imported, or whose ``available()`` says no, is a
usage error before anything runs (pytest's exit code 4), and a session in which no nnparity check ran
(every cell skipped or unsupported) fails (exit code 1).
"""
from __future__ import annotations

from pathlib import Path

import pytest

SUITE = Path(__file__).parent / "suite" / "test_nnparity_suite.py"


def pytest_addoption(parser):
    group = parser.getgroup("nnparity", "nnparity: check an implementation against the reference")
    group.addoption("--nnparity-impl", default=None, help="module.path:ClassName (or an installed plugin's name) to check")
    group.addoption("--nnparity-spec", action="append", default=None, help="bundled spec or spec file (repeatable; default: all)")
    group.addoption("--nnparity-dtype", action="append", default=None, help="float64 and/or float32 (default: both)")
    group.addoption("--nnparity-timeout", type=float, default=120.0, help="seconds one check may take (default 120)")
    group.addoption("--nnparity-replicas", type=int, default=1,
                    help="over N data-parallel replicas (built-in implementations: torch; default 1)")
    parser.addini("nnparity_impl", "module.path:ClassName to check with nnparity's parity suite", default="")
    parser.addini("nnparity_specs", "specs for nnparity's parity suite (default: all bundled)", type="args", default=[])


def implementation(config) -> str | None:
    return config.getoption("nnparity_impl") or config.getini("nnparity_impl") or None


class _Session:
    """The started implementation, the specs by label, and how many nnparity checks actually ran."""

    def __init__(self, config, name: str):
        from nnparity import registry
        from nnparity.commands.common import DTYPES, choose, implementations
        from nnparity.report import plain
        from nnparity.selection import label_specs
        from reference import spec as S
        from reference.errors import UserError

        timeout, self.replicas = config.getoption("nnparity_timeout"), config.getoption("nnparity_replicas")
        try:
            if timeout <= 0:
                raise UserError(f"--nnparity-timeout {timeout:g}: seconds per check must be more than 0.")
            if self.replicas < 1:
                raise UserError(f"--nnparity-replicas {self.replicas}: at least 1.")
            [self.name] = implementations([name], self.replicas)
            self.specs = label_specs(config.getoption("nnparity_spec") or config.getini("nnparity_specs") or S.bundled_names())
            self.dtypes = choose(config.getoption("nnparity_dtype"), DTYPES, "nnparity-dtype")
            self.impl = registry.load(self.name, timeout=timeout)
        except UserError as exc:
            raise pytest.UsageError(f"nnparity: {plain(str(exc))}") from None
        self.timeout, self.ran, self.tests = timeout, 0, 0

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and "::test_nnparity[" in report.nodeid:
            self.tests += 1
            self.ran += not report.skipped

    def pytest_sessionfinish(self, session, exitstatus):
        self.impl.close()
        if self.tests and not self.ran and exitstatus == 0:
            session.exitstatus = 1
            reporter = session.config.pluginmanager.get_plugin("terminalreporter")
            if reporter:
                reporter.write_line(f"nnparity: NOTHING CHECKED: none of the {self.tests} checks of {self.name} ran (every "
                                    "cell skipped or unsupported); the session fails rather than pass on nothing.",
                                    red=True, bold=True)


def pytest_configure(config):
    name = implementation(config)
    if not name or getattr(config.option, "help", False):
        return
    config.pluginmanager.register(_Session(config, name), "nnparity-session")
    if str(SUITE) not in config.args:
        config.args.append(str(SUITE))
