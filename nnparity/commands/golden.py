"""``nnparity golden export DIR`` and ``nnparity golden verify DIR --impl ...``."""
from __future__ import annotations

import time

from rich.markup import escape

from nnparity import golden, registry, report
from nnparity.arguments import Once, positive_int, seconds, writable_dir
from nnparity.commands import common
from nnparity.commands.check import table
from nnparity.console import out
from nnparity.limits import require_memory
from nnparity.selection import label_specs
from reference import spec as S
from reference.errors import UserError


def run_export(args) -> int:
    directory = writable_dir(args.dir, "golden export")
    specs = label_specs(args.spec or S.bundled_names())
    dtypes = common.choose(args.dtype, common.DTYPES, "dtype")
    for ls in specs:
        require_memory(ls.spec, args.steps, ls.given)
    started = time.perf_counter()
    with out.status("exporting ...") as status:
        names = golden.export(directory, specs, dtypes, args.steps, progress=lambda name: status.update(escape(f"exported {name}")))
    out.print(f"wrote {len(names)} cases to {escape(str(directory))} in {time.perf_counter() - started:.0f} s")
    return 0


def run_verify(args) -> int:
    if not args.impl:
        raise UserError("golden verify needs --impl (a built-in or plugin name, or module.path:ClassName).")
    [name] = common.implementations([args.impl])
    checks = common.checks(args.check) if args.check else None
    golden.check_index(args.dir)
    started = time.perf_counter()
    impl = registry.load(name, timeout=args.timeout)
    try:
        with out.status("verifying ...") as status:
            outcomes = golden.verify(args.dir, impl, checks, timeout=args.timeout,
                                     progress=lambda o: status.update(escape(f"{o.spec} {o.dtype} {o.check}")))
    finally:
        impl.close()
    out.print(table(outcomes, f"{name} (golden files in {args.dir})"))
    for note in report.chaos_notes(outcomes):
        out.print(note)
    common.print_problems(outcomes, args.verbose)
    return common.finish(outcomes, "", time.perf_counter() - started)


def add_parser(sub) -> None:
    p = sub.add_parser("golden", help="golden files: every case on disk, for implementations in any language")
    gsub = p.add_subparsers(dest="golden_command", required=True, metavar="{export,verify}")
    e = gsub.add_parser("export", help="write every case (inputs, the reference's answers, tolerances) to DIR")
    e.add_argument("dir")
    e.add_argument("--spec", action="append", help="bundled spec or spec file (repeatable; default: all)")
    e.add_argument("--dtype", action="append", help="float64 and/or float32 (default: both)")
    e.add_argument("--steps", type=positive_int, default=50, action=Once, help="trajectory length (default 50)")
    e.set_defaults(run=run_export)
    v = gsub.add_parser("verify", help="check an implementation against the golden files in DIR")
    v.add_argument("dir")
    v.add_argument("--impl", action=Once, help="module.path:ClassName, a plugin's name or a built-in")
    v.add_argument("--check", action="append", help="only these checks (default: every check in the files)")
    v.add_argument("--timeout", type=seconds, default=120.0, action=Once, help="seconds any one call may take (default 120)")
    v.add_argument("--verbose", action="store_true", help="each error's traceback, not only its one-line reason")
    v.set_defaults(run=run_verify)
