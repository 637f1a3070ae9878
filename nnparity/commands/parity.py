"""``nnparity parity``: the parity matrix, as a table; exit 0 when every check that ran passed, 1 on any
failure or error or when nothing was checked, 2 on bad arguments (README, "Errors and exit codes")."""
from __future__ import annotations

import time

from nnparity import registry, report, runner
from nnparity.arguments import Once, positive_int, seconds, writable_file
from nnparity.commands import common
from nnparity.console import out


def selection(args) -> runner.Selection:
    from nnparity.replica_topology import Topology, master
    from reference import spec as S

    Topology(args.replicas, args.nnodes, master(args.master)).announce()
    return runner.Selection(args.spec or S.bundled_names(), common.implementations(args.impl, args.replicas),
                            common.choose(args.dtype, common.DTYPES, "dtype"),
                            common.choose(args.device, ["cpu"], "device", {"cuda": ["cuda"]}),
                            common.checks(args.check, args.replicas), args.steps, replicas=args.replicas)


def run(args) -> int:
    writable_file(args.json, "--json")
    sel = selection(args)
    started = time.perf_counter()
    pool = common.start(sel.impls, bool(args.impl), args.timeout)
    try:
        outcomes = common.run_matrix(sel, pool, args.timeout, "parity")
    finally:
        runner.close_pool(pool)
    seconds = time.perf_counter() - started
    for table in report.tables(outcomes, expand_steps=args.expand_steps):
        out.print(table)
    for note in report.chaos_notes(outcomes):
        out.print(note)
    common.print_problems(outcomes, args.verbose)
    if args.json:
        meta = report.provenance(report.command_line("parity"))
        meta["wall_seconds"] = round(seconds, 1)
        report.write_json(args.json, {"provenance": meta, "summary": report.summary(outcomes),
                                      "outcomes": [o.to_json() for o in outcomes]})
        out.print(f"wrote {args.json}")
    return common.finish(outcomes, "", seconds)


def add_parser(sub) -> None:
    p = sub.add_parser("parity", help="run the parity matrix: specs x implementations x dtypes x checks")
    p.add_argument("--spec", action="append", help="a bundled spec or a spec file (repeatable; default: every bundled spec)")
    p.add_argument("--impl", action="append", help=f"implementation (repeatable; default: all of {', '.join(registry.names())})")
    p.add_argument("--dtype", action="append", help="float64 and/or float32 (default: both)")
    p.add_argument("--device", action="append", help="cpu and/or cuda (default: cpu)")
    p.add_argument("--check", action="append", help="a check, or 'step' for every optimizer step (default: all)")
    p.add_argument("--steps", type=positive_int, default=50, action=Once, help="trajectory length K (default 50)")
    p.add_argument("--replicas", type=positive_int, default=1, action=Once,
                   help="train each implementation over N data-parallel replicas, against the reference on the global batch")
    p.add_argument("--nnodes", type=positive_int, default=1, action=Once,
                   help="machines the replicas span (the others run nnparity replica-node; default 1)")
    p.add_argument("--master", action=Once, help="HOST:PORT where the machines meet (with --nnodes > 1)")
    p.add_argument("--json", metavar="PATH", action=Once, help="also write every cell, with provenance, as JSON")
    p.add_argument("--expand-steps", action="store_true", help="one row per optimizer instead of their worst")
    p.add_argument("--timeout", type=seconds, default=600.0, action=Once,
                   help="seconds any one call to an implementation may take, its start included (default 600)")
    p.add_argument("--verbose", action="store_true", help="each error's traceback, not only its one-line reason")
    p.set_defaults(run=run)
