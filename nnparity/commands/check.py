"""``nnparity check --impl module:Class``: an implementation nobody here wrote, against the oracle.

Runs the whole check list (the parity matrix's, for one implementation) in a worker process with a
per-check timeout, and prints each check with its measured error and tolerance, the first diverging
tensor, and the hints that match. An implementation that cannot be loaded, or whose ``available()``
says no, is a usage error (exit 2, nothing run); exit 1 on any failure or error, or when no check ran.
"""
from __future__ import annotations

import time

from rich.markup import escape
from rich.table import Table

from nnparity import report, runner
from nnparity.arguments import Once, positive_int, seconds, writable_file
from nnparity.commands import common
from nnparity.console import out, sci
from reference import spec as S
from reference.errors import UserError

STATUS = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "error": "[magenta]ERROR[/]", "skip": "[dim]skip[/]",
          "unsupported": "[yellow]unsupported[/]"}


def table(outcomes: list[runner.Outcome], impl: str) -> Table:
    t = Table(title=f"{escape(impl)} against the reference (worst error: the largest over every step and tensor)",
              title_justify="left")
    for col in ("spec", "dtype", "check", "worst error", "tolerance", "result", "first divergence / reason"):
        t.add_column(col, justify="right" if col in ("worst error", "tolerance") else "left", overflow="fold")
    last = None
    for o in outcomes:
        where = ""
        if o.failure:
            where = o.failure["tensor"] + (f" (step {o.failure['step'] + 1})" if len(o.curve) > 1 else "")
        elif o.status in ("error", "skip", "unsupported"):
            where = (o.message or "")[:100]
        if o.check == "trajectory" and o.horizon is not None:
            where = (where + "; " if where else "") + f"chaotic from step {o.horizon + 1}"
        first = (o.spec, o.dtype) != last
        t.add_row(escape(o.spec) if first else "", o.dtype if first else "", o.check, sci(o.max_rel), sci(o.tol),
                  STATUS[o.status], escape(where))
        last = (o.spec, o.dtype)
    return t


def run(args) -> int:
    if not args.impl:
        raise UserError("check needs --impl module.path:ClassName (or an installed plugin's name).")
    from nnparity.replica_topology import Topology, master

    Topology(args.replicas, args.nnodes, master(args.master)).announce()
    [impl] = common.implementations([args.impl], args.replicas)
    writable_file(args.json, "--json")
    sel = runner.Selection(args.spec or S.bundled_names(), [impl], common.choose(args.dtype, common.DTYPES, "dtype"),
                           ["cpu"], common.checks(args.check, args.replicas), args.steps, replicas=args.replicas)
    started = time.perf_counter()
    pool = common.start([impl], True, args.timeout)
    try:
        outcomes = common.run_matrix(sel, pool, args.timeout, "check")
    finally:
        runner.close_pool(pool)
    out.print(table(outcomes, impl))
    for note in report.chaos_notes(outcomes):
        out.print(note)
    common.print_problems(outcomes, args.verbose)
    seconds = time.perf_counter() - started
    if args.json:
        meta = report.provenance(report.command_line("check"))
        meta["wall_seconds"] = round(seconds, 1)
        report.write_json(args.json, {"provenance": meta, "summary": report.summary(outcomes),
                                      "outcomes": [o.to_json() for o in outcomes]})
    return common.finish(outcomes, f"{impl}: ", seconds)


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="check your own implementation against the reference (every check, with hints)")
    p.add_argument("--impl", action=Once, help="module.path:ClassName, or an installed plugin's name (entry points nnparity.implementations)")
    p.add_argument("--spec", action="append", help="a bundled spec or a spec file (repeatable; default: every bundled spec)")
    p.add_argument("--dtype", action="append", help="float64 and/or float32 (default: both)")
    p.add_argument("--check", action="append", help="a check, or 'step' for every optimizer step (default: all)")
    p.add_argument("--steps", type=positive_int, default=50, action=Once, help="trajectory length (default 50)")
    p.add_argument("--replicas", type=positive_int, default=1, action=Once,
                   help="over N data-parallel replicas (built-in implementations: torch)")
    p.add_argument("--nnodes", type=positive_int, default=1, action=Once,
                   help="machines the replicas span (the others run nnparity replica-node; default 1)")
    p.add_argument("--master", action=Once, help="HOST:PORT where the machines meet (with --nnodes > 1)")
    p.add_argument("--timeout", type=seconds, default=120.0, action=Once,
                   help="seconds any one call may take, its start included, before the worker is stopped (default 120)")
    p.add_argument("--json", metavar="PATH", action=Once, help="also write the report, with provenance, as JSON")
    p.add_argument("--verbose", action="store_true", help="each error's traceback, not only its one-line reason")
    p.set_defaults(run=run)
