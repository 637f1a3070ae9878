"""A pytest plugin: ``pytest --nnparity-impl module:Class`` checks an implementation in its own CI.

Registered through the ``pytest11`` entry point, so it is active wherever nnparity is installed and
does nothing until it is asked: with ``--nnparity-impl`` (or ``nnparity_impl = module:Class`` in the
ini file) it adds nnparity's parity suite (``nnparity/suite/``) to the session, one test per spec x
dtype x check, ids like ``digits_sigmoid50-mypkg:MyImpl-float32-step-adam``.
"""
from __future__ import annotations

from pathlib import Path

SUITE = Path(__file__).parent / "suite" / "test_nnparity_suite.py"


def pytest_addoption(parser):
    group = parser.getgroup("nnparity", "nnparity: check an implementation against the reference")
    group.addoption("--nnparity-impl", default=None, help="module.path:ClassName (or an installed plugin's name) to check")
    group.addoption("--nnparity-spec", action="append", default=None, help="bundled spec or spec file (repeatable; default: all)")
    group.addoption("--nnparity-dtype", action="append", default=None, help="float64 and/or float32 (default: both)")
    group.addoption("--nnparity-timeout", type=float, default=120.0, help="seconds one check may take (default 120)")
    parser.addini("nnparity_impl", "module.path:ClassName to check with nnparity's parity suite", default="")
    parser.addini("nnparity_specs", "specs for nnparity's parity suite (default: all bundled)", type="args", default=[])


def implementation(config) -> str | None:
    return config.getoption("nnparity_impl") or config.getini("nnparity_impl") or None


def pytest_configure(config):
    if implementation(config) and str(SUITE) not in config.args:
        config.args.append(str(SUITE))
