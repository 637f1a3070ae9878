"""``nnparity parity``: the parity matrix, as a table; exit 1 on any failure or error, 2 on bad arguments."""
from __future__ import annotations

import time
from collections import Counter

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nnparity import registry, report, runner
from nnparity.console import out
from reference import spec as S
from reference.checks import STEP_OPTIMIZERS, check_names
from reference.errors import UserError


def _choose(given: list[str] | None, known: list[str], what: str, aliases: dict[str, list[str]] | None = None) -> list[str]:
    if not given:
        return known
    chosen = []
    for g in given:
        if aliases and g in aliases:
            chosen += aliases[g]
        elif g in known:
            chosen.append(g)
        else:
            raise UserError(f"--{what} {g}: unknown; known: {', '.join(known + list(aliases or {}))}.")
    return list(dict.fromkeys(chosen))


def implementations(given: list[str] | None) -> list[str]:
    """Built-in or plugin names, or module.path:ClassName targets; default: the built-ins."""
    if not given:
        return registry.names()
    for g in given:
        if not registry.is_target(g) and g not in registry.known():
            raise UserError(f"--impl {g}: unknown; known: {', '.join(registry.known())}, or module.path:ClassName.")
    return list(dict.fromkeys(given))


def selection(args) -> runner.Selection:
    specs = args.spec or S.bundled_names()
    for s in specs:
        S.load(s)  # a bad name or file is a clear error now, not in the middle of the matrix
    checks = _choose(args.check, check_names(), "check", {"step": [f"step-{k}" for k in STEP_OPTIMIZERS]})
    if args.steps < 1:
        raise UserError(f"--steps {args.steps}: the trajectory needs at least 1 step.")
    return runner.Selection(specs, implementations(args.impl), _choose(args.dtype, ["float64", "float32"], "dtype"),
                            _choose(args.device, ["cpu"], "device", {"cuda": ["cuda"]}), checks, args.steps)


def run(args) -> int:
    sel = selection(args)
    started = time.perf_counter()
    total = len(sel.specs) * len(sel.impls) * len(sel.dtypes) * len(sel.devices) * len(sel.checks)
    with Progress(TextColumn("parity"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=out, transient=True) as bar:
        task = bar.add_task("", total=total)

        def progress(o: runner.Outcome) -> None:
            bar.update(task, advance=1, description=f"{o.spec} {o.impl} {o.dtype}")

        outcomes = runner.run(sel, registry.make, progress, timeout=args.timeout)
    seconds = time.perf_counter() - started
    for table in report.tables(outcomes, expand_steps=args.expand_steps):
        out.print(table)
    for note in report.chaos_notes(outcomes):
        out.print(note)
    problems = [o for o in outcomes if o.status in ("fail", "error")]
    shown: set[str] = set()
    for o in problems:
        text = report.explain(o)
        first, _, rest = text.partition("\n")
        out.print(first if first in shown else text)  # a traceback once per distinct error
        shown.add(first.split(": ", 1)[-1])
    skips = Counter((o.impl, o.message) for o in outcomes if o.status == "skip")
    for (impl, why), n in skips.items():
        out.print(f"[dim]skip: {impl} ({n} cells): {why}[/]")
    counts = report.summary(outcomes)
    if args.json:
        meta = report.provenance(report.command_line("parity"))
        meta["wall_seconds"] = round(seconds, 1)
        report.write_json(args.json, {"provenance": meta, "summary": counts, "outcomes": [o.to_json() for o in outcomes]})
        out.print(f"wrote {args.json}")
    verdict = "[bold red]FAIL[/]" if problems else "[green]PASS[/]"
    out.print(f"{verdict}: {counts.get('pass', 0)} passed, {counts.get('fail', 0)} failed, {counts.get('error', 0)} errors, "
              f"{counts.get('skip', 0)} skipped, in {seconds:.0f} s.")
    return 1 if problems else 0


def add_parser(sub) -> None:
    p = sub.add_parser("parity", help="run the parity matrix: specs x implementations x dtypes x checks")
    p.add_argument("--spec", action="append", help="a bundled spec or a spec file (repeatable; default: every bundled spec)")
    p.add_argument("--impl", action="append", help=f"implementation (repeatable; default: all of {', '.join(registry.names())})")
    p.add_argument("--dtype", action="append", help="float64 and/or float32 (default: both)")
    p.add_argument("--device", action="append", help="cpu and/or cuda (default: cpu)")
    p.add_argument("--check", action="append", help="a check, or 'step' for every optimizer step (default: all)")
    p.add_argument("--steps", type=int, default=50, help="trajectory length K (default 50)")
    p.add_argument("--json", metavar="PATH", help="also write every cell, with provenance, as JSON")
    p.add_argument("--expand-steps", action="store_true", help="one row per optimizer instead of their worst")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds one check may take in a worker (default 600)")
    p.set_defaults(run=run)
