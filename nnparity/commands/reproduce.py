"""``nnparity reproduce STUDY``: rerun what the documents ran, write ``results/STUDY/`` and ``results/README.md``."""
from __future__ import annotations

import time
from collections import defaultdict

from nnparity import report, runner
from nnparity.arguments import Once, positive_int, writable_dir
from nnparity.console import out
from nnparity.studies import context, results_readme
from nnparity.studies.catalog import STUDIES
from reference.errors import UserError


def run(args) -> int:
    names = list(STUDIES) if args.study == "all" else [args.study]
    if args.study != "all" and args.study not in STUDIES:
        raise UserError(f"reproduce {args.study}: unknown study; known: {', '.join(STUDIES)}, or 'all'.")
    seeds = args.seeds if args.seeds is not None else (2 if args.quick else 5)
    out_dir = writable_dir(args.out, "--out")
    runner.single_thread()  # this process trains too (numpy), beside single-threaded workers: Context.parallel
    pool: dict = {}  # the implementations' processes, started once for every study of this run
    try:
        for name in names:
            _study(name, args, seeds, out_dir, pool)
    finally:
        for impl in pool.values():
            impl.close()
    readme = results_readme.write(out_dir)
    out.print(f"wrote {readme}")
    return 0


def _study(name: str, args, seeds: int, out_dir, pool: dict) -> None:
    module = STUDIES[name]
    ctx = context.Context(out_dir, quick=args.quick, seeds=seeds, dtype=args.dtype, pool=pool)
    meta = context.provenance(report.command_line("reproduce", f"nnparity reproduce {name}"), ctx, list(range(seeds)))  # the code as the study starts
    started = time.perf_counter()
    with context.progress_bar() as bar:
        ctx.progress = bar
        results = module.run(ctx)
    meta["wall_seconds"] = round(time.perf_counter() - started, 1)
    by_framework = defaultdict(float)
    for label, seconds in ctx.timings.items():  # every label ends with the framework it timed
        by_framework[label.rsplit(" ", 1)[-1]] += seconds
    meta["seconds_by_framework"] = {k: round(v, 1) for k, v in by_framework.items()}
    meta["timings"] = {k: round(v, 1) for k, v in ctx.timings.items()}
    path = ctx.folder(name) / "results.json"
    report.write_json(path, {"provenance": meta, "study": name, "title": module.TITLE, "results": results})
    out.print(f"[green]{module.TITLE}[/]: wrote {path} in {meta['wall_seconds']:.0f} s")
    out.print(module.markdown(results), markup=False)


def add_parser(sub) -> None:
    p = sub.add_parser("reproduce", help="rerun a document's study in NumPy, PyTorch and Keras; write results/STUDY/")
    p.add_argument("study", help=f"one of {', '.join(STUDIES)}, or 'all'")
    p.add_argument("--quick", action="store_true", help="subsets and fewer epochs (what the tests run)")
    p.add_argument("--seeds", type=positive_int, default=None, action=Once,
                   help="seeds for the runs as the document wrote them (default 5; 2 with --quick)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32", action=Once,
                   help="aligned runs' dtype where the study leaves it open")
    p.add_argument("--out", default="results", action=Once, help="where to write (default results/)")
    p.set_defaults(run=run)
