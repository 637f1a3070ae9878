"""``nnparity check --impl module:Class``: an implementation nobody here wrote, against the oracle.

Runs the whole check list (the parity matrix's, for one implementation) in a worker process with a
per-check timeout, and prints each check with its measured error and tolerance, the first diverging
tensor, and the hints that match. Exit 1 on any failure or error, 2 on bad arguments.
"""
from __future__ import annotations

import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nnparity import registry, report, runner
from nnparity.commands.parity import _choose
from nnparity.console import out, sci
from reference import spec as S
from reference.checks import STEP_OPTIMIZERS, check_names
from reference.errors import UserError


def _table(outcomes: list[runner.Outcome], impl: str) -> Table:
    t = Table(title=f"{impl} against the reference", title_justify="left")
    for col in ("spec", "dtype", "check", "max rel err", "tolerance", "result", "first divergence"):
        t.add_column(col, justify="right" if col in ("max rel err", "tolerance") else "left", overflow="fold")
    last = None
    for o in outcomes:
        status = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "error": "[magenta]ERROR[/]", "skip": "[dim]skip[/]"}[o.status]
        where = ""
        if o.failure:
            where = o.failure["tensor"] + (f" (step {o.failure['step'] + 1})" if len(o.curve) > 1 else "")
        elif o.status in ("error", "skip"):
            where = (o.message or "").splitlines()[0][:80]
        t.add_row(o.spec if (o.spec, o.dtype) != last else "", o.dtype if (o.spec, o.dtype) != last else "", o.check,
                  sci(o.max_rel), sci(o.tol), status, where)
        last = (o.spec, o.dtype)
    return t


def run(args) -> int:
    if not args.impl:
        raise UserError("check needs --impl module.path:ClassName (or an installed plugin's name).")
    if not registry.is_target(args.impl) and args.impl not in registry.known():
        raise UserError(f"--impl {args.impl}: unknown; give module.path:ClassName, or one of {', '.join(registry.known())}.")
    specs = args.spec or S.bundled_names()
    for s in specs:
        S.load(s)
    checks = _choose(args.check, check_names(), "check", {"step": [f"step-{k}" for k in STEP_OPTIMIZERS]})
    dtypes = _choose(args.dtype, ["float64", "float32"], "dtype")
    sel = runner.Selection(specs, [args.impl], dtypes, ["cpu"], checks, args.steps)
    started = time.perf_counter()
    with Progress(TextColumn("check"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.description}"),
                  console=out, transient=True) as bar:
        task = bar.add_task("", total=len(specs) * len(dtypes) * len(checks))
        outcomes = runner.run(sel, lambda name: registry.make(name, timeout=args.timeout),
                              lambda o: bar.update(task, advance=1, description=f"{o.spec} {o.dtype} {o.check}"),
                              timeout=args.timeout)
    out.print(_table(outcomes, args.impl))
    for o in outcomes:
        if o.status in ("fail", "error"):
            out.print(report.explain(o))
    counts = report.summary(outcomes)
    if args.json:
        meta = report.provenance(report.command_line("check"))
        meta["wall_seconds"] = round(time.perf_counter() - started, 1)
        report.write_json(args.json, {"provenance": meta, "summary": counts, "outcomes": [o.to_json() for o in outcomes]})
    bad = counts.get("fail", 0) + counts.get("error", 0)
    out.print(f"{'[bold red]FAIL[/]' if bad else '[green]PASS[/]'}: {args.impl}: {counts.get('pass', 0)} checks passed, "
              f"{counts.get('fail', 0)} failed, {counts.get('error', 0)} errors, {counts.get('skip', 0)} skipped "
              f"({time.perf_counter() - started:.0f} s).")
    return 1 if bad else 0


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="check your own implementation against the reference (every check, with hints)")
    p.add_argument("--impl", help="module.path:ClassName, or an installed plugin's name (entry points nnparity.implementations)")
    p.add_argument("--spec", action="append", help="a bundled spec or a spec file (repeatable; default: every bundled spec)")
    p.add_argument("--dtype", action="append", help="float64 and/or float32 (default: both)")
    p.add_argument("--check", action="append", help="a check, or 'step' for every optimizer step (default: all)")
    p.add_argument("--steps", type=int, default=50, help="trajectory length (default 50)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds one check may take before the worker is stopped (default 120)")
    p.add_argument("--json", metavar="PATH", help="also write the report, with provenance, as JSON")
    p.set_defaults(run=run)
