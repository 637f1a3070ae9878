"""``nnparity golden export DIR`` and ``nnparity golden verify DIR --impl ...``."""
from __future__ import annotations

import time

from nnparity import registry, report
from nnparity.commands.check import _table
from nnparity.commands.parity import _choose
from nnparity.console import out
from nnparity import golden
from reference import spec as S
from reference.errors import UserError


def run_export(args) -> int:
    specs = args.spec or S.bundled_names()
    for s in specs:
        S.load(s)
    started = time.perf_counter()
    with out.status("exporting ...") as status:
        names = golden.export(args.dir, specs, _choose(args.dtype, ["float64", "float32"], "dtype"), args.steps,
                              progress=lambda name: status.update(f"exported {name}"))
    out.print(f"wrote {len(names)} cases to {args.dir} in {time.perf_counter() - started:.0f} s")
    return 0


def run_verify(args) -> int:
    if not args.impl:
        raise UserError("golden verify needs --impl (a built-in or plugin name, or module.path:ClassName).")
    if not registry.is_target(args.impl) and args.impl not in registry.known():
        raise UserError(f"--impl {args.impl}: unknown; known: {', '.join(registry.known())}, or module.path:ClassName.")
    impl = registry.make(args.impl, timeout=args.timeout)
    try:
        with out.status("verifying ...") as status:
            outcomes = golden.verify(args.dir, impl, args.check, timeout=args.timeout,
                                     progress=lambda o: status.update(f"{o.spec} {o.dtype} {o.check}"))
    finally:
        impl.close()
    out.print(_table(outcomes, f"{args.impl} (golden files in {args.dir})"))
    for o in outcomes:
        if o.status in ("fail", "error"):
            out.print(report.explain(o))
    counts = report.summary(outcomes)
    bad = counts.get("fail", 0) + counts.get("error", 0)
    out.print(f"{'[bold red]FAIL[/]' if bad else '[green]PASS[/]'}: {counts.get('pass', 0)} passed, {counts.get('fail', 0)} failed, "
              f"{counts.get('error', 0)} errors, {counts.get('skip', 0)} skipped.")
    return 1 if bad else 0


def add_parser(sub) -> None:
    p = sub.add_parser("golden", help="golden files: every case on disk, for implementations in any language")
    gsub = p.add_subparsers(dest="golden_command", required=True, metavar="{export,verify}")
    e = gsub.add_parser("export", help="write every case (inputs, the reference's answers, tolerances) to DIR")
    e.add_argument("dir")
    e.add_argument("--spec", action="append", help="bundled spec or spec file (repeatable; default: all)")
    e.add_argument("--dtype", action="append", help="float64 and/or float32 (default: both)")
    e.add_argument("--steps", type=int, default=50, help="trajectory length (default 50)")
    e.set_defaults(run=run_export)
    v = gsub.add_parser("verify", help="check an implementation against the golden files in DIR")
    v.add_argument("dir")
    v.add_argument("--impl", help="module.path:ClassName, a plugin's name or a built-in")
    v.add_argument("--check", action="append", help="only these checks (default: every check in the files)")
    v.add_argument("--timeout", type=float, default=120.0, help="seconds one check may take (default 120)")
    v.set_defaults(run=run_verify)
