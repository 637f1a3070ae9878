"""``nnparity bench``: training throughput per implementation against the machine's matmul peak;
``--parity`` adds where the default parity matrix spends its wall time."""
from __future__ import annotations

import time
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nnparity import registry, report
from nnparity.arguments import Once, positive_int, writable_dir
from nnparity.bench import parity_profile, peak, plot, training
from nnparity.commands.common import implementations
from nnparity.console import out
from nnparity.limits import require_memory
from reference import spec as S
from reference.errors import UserError

HEADLINE = "fashion_relu500_300_100"
# The targets, as epoch-time ratios to torch in the same run: (implementation prefix, batch) -> limit.
TARGETS = {("numpy", 32): 1.2, ("numpy", 256): 1.1, ("keras-", 32): 1.5}
QUICK = {"rows": 2048, "repeats": 2, "peak_size": 512}


def target(impl: str, batch: int) -> float | None:
    return next((limit for (prefix, b), limit in TARGETS.items() if b == batch and impl.startswith(prefix)), None)


def ratios(timings: list[dict]) -> None:
    """Each timing's epoch time over torch's at the same (dtype, batch, device), and its target where one is set."""
    for t in timings:
        ref = next((r for r in timings if r["impl"] == "torch" and r.get("seconds") and
                    (r["dtype"], r["batch"], r["device"]) == (t["dtype"], t["batch"], t["device"])), None)
        t["ratio_to_torch"] = t["median_seconds"] / ref["median_seconds"] if ref and t.get("seconds") else None
        t["target_ratio"] = target(t["impl"], t["batch"])
        t["meets_target"] = None if t["target_ratio"] is None or t["ratio_to_torch"] is None else t["ratio_to_torch"] <= t["target_ratio"]


def _table(timings: list[dict], spec: str, rows: int) -> Table:
    table = Table(title=f"{spec}: one epoch of {rows} rows, forward + backward + optimizer step (median of the repeats)", title_justify="left")
    for col in ("impl", "dtype", "batch", "s/epoch", "min - max", "samples/s", "GFLOP/s", "% peak", "x torch", "target"):
        table.add_column(col, justify="left" if col in ("impl", "dtype") else "right", no_wrap=True)
    for t in timings:
        if not t.get("seconds"):
            table.add_row(t["impl"], t["dtype"], str(t["batch"]), f"[dim]{t['error']}[/]", *[""] * 6)
            continue
        ok = t["meets_target"]
        limit = "" if t["target_ratio"] is None else f"[{'green' if ok else 'bold red'}]<= {t['target_ratio']}[/]"
        table.add_row(t["impl"], t["dtype"], str(t["batch"]), f"{t['median_seconds']:.2f}",
                      f"{t['min_seconds']:.2f} - {t['max_seconds']:.2f}", f"{t['samples_per_second']:,.0f}", f"{t['gflops']:.1f}",
                      f"{100 * t['fraction_of_peak']:.0f}%" if t["fraction_of_peak"] else "-",
                      f"{t['ratio_to_torch']:.2f}" if t["ratio_to_torch"] is not None else "-", limit)
    return table


def _peak_line(p: dict) -> str:
    parts = [f"{dtype} {v['peak']:.0f} GFLOP/s (" + ", ".join(f"{k} {g:.0f}" for k, g in v.items() if k != "peak") + ")"
             for dtype, v in p["gflops"].items() if v["peak"]]
    return f"matmul peak on {p['device']} ({p['size']} x {p['size']} products, best of {peak.REPEATS}): " + "; ".join(parts)


def _parity_table(p: dict) -> Table:
    table = Table(title=f"nnparity parity, default matrix: {p['cells']} cells in {p['wall_seconds']:.0f} s wall "
                        f"(the main thread prepared the reference answers in {p['prepare_seconds']:.0f} s; "
                        f"the CLI starts in {p['cli_startup_seconds']:.1f} s)", title_justify="left")
    for col in ("implementation", "start-up s", "checks s", "waiting s", "worker CPU s", "cells"):
        table.add_column(col, justify="left" if col == "implementation" else "right")
    for key, v in p["implementations"].items():
        cpu = v["worker_cpu_seconds"]
        table.add_row(key.split("#")[0], f"{v['startup_seconds']:.1f}", f"{v['check_seconds']:.1f}", f"{v['waiting_seconds']:.1f}",
                      "-" if cpu is None else f"{cpu:.1f}", str(v["cells"]))
    return table


def _options(args) -> dict:
    spec = S.load(args.spec)
    require_memory(spec, 1, args.spec)
    writable_dir(args.out, "--out")
    batches = args.batch or [32, 256]
    repeats = args.repeats or (QUICK["repeats"] if args.quick else 5)
    rows = args.rows or (QUICK["rows"] if args.quick else None)
    if rows is not None and rows < max(batches):
        raise UserError(f"--rows {rows}: fewer rows than the largest batch ({max(batches)}).")
    for d in args.dtype or []:
        if d not in ("float32", "float64"):
            raise UserError(f"--dtype {d}: unknown; known: float32, float64.")
    if args.device not in ("cpu", "cuda"):
        raise UserError(f"--device {args.device}: unknown; known: cpu, cuda.")
    return {"spec": spec, "impls": implementations(args.impl), "batches": batches, "repeats": repeats, "rows": rows,
            "dtypes": args.dtype or ["float32"], "device": args.device}


def run(args) -> int:
    o = _options(args)
    spec, started = o["spec"], time.perf_counter()
    meta = report.provenance(report.command_line("bench"))
    with out.status(f"measuring the {o['device']} matmul peak ..."):
        p = peak.measure(o["device"], size=QUICK["peak_size"] if args.quick else peak.SIZE)
    out.print(_peak_line(p))
    with Progress(TextColumn("bench"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=out, transient=True) as bar:
        task = bar.add_task("", total=len(o["impls"]) * len(o["dtypes"]) * len(o["batches"]) * o["repeats"])
        timings = training.measure(spec, o["impls"], o["batches"], o["dtypes"], o["device"], o["rows"], o["repeats"], p["gflops"],
                                   advance=lambda: bar.update(task, advance=1))
    timings = [t.to_json() for t in timings]
    ratios(timings)
    rows = next((t["steps"] * t["batch"] for t in timings if t.get("steps")), o["rows"])
    out.print(_table(timings, spec.name, rows))
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    stem = "bench-quick" if args.quick else "bench"
    figures = [plot.throughput(timings, f"{spec.name} on {o['device']}, one epoch", folder / f"{stem}.png")]
    profile = None
    if args.parity:
        with Progress(TextColumn("parity"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=out, transient=True) as bar:
            task = bar.add_task("", total=None)
            profile = parity_profile.profile(progress=lambda _: bar.update(task, advance=1))
        out.print(_parity_table(profile))
        figures.append(plot.parity_breakdown(profile, folder / f"{stem}-parity.png"))
    meta.update(wall_seconds=round(time.perf_counter() - started, 1), quick=args.quick)
    path = folder / f"{stem}.json"
    report.write_json(path, {"provenance": meta, "spec": spec.name, "device": o["device"], "rows": rows, "repeats": o["repeats"],
                             "peak": p, "timings": timings, "parity": profile, "figures": figures})
    out.print(f"wrote {path} and {', '.join(figures)}")
    missed = [t for t in timings if t.get("meets_target") is False]
    for t in missed:
        out.print(f"[yellow]target missed[/]: {t['impl']} at batch {t['batch']}: {t['ratio_to_torch']:.2f}x torch (target <= {t['target_ratio']}x)")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="training throughput per implementation, against this machine's matmul peak")
    p.add_argument("--spec", default=HEADLINE, action=Once, help=f"a bundled spec or a spec file (default {HEADLINE})")
    p.add_argument("--impl", action="append", help=f"implementation (repeatable; default: all of {', '.join(registry.names())})")
    p.add_argument("--batch", action="append", type=positive_int, help="batch size (repeatable; default 32 and 256)")
    p.add_argument("--dtype", action="append", help="float32 and/or float64 (default float32)")
    p.add_argument("--device", default="cpu", action=Once, help="cpu or cuda (default cpu)")
    p.add_argument("--repeats", type=positive_int, default=None, action=Once,
                   help="timed epochs per case, interleaved across implementations (default 5; 2 with --quick)")
    p.add_argument("--rows", type=positive_int, default=None, action=Once, help="training rows per epoch (default: all; 2048 with --quick)")
    p.add_argument("--quick", action="store_true", help="a small run that checks the benchmark works (what the tests run)")
    p.add_argument("--parity", action="store_true", help="also time the default parity matrix and say where its time goes")
    p.add_argument("--out", default="results/bench", action=Once, help="where to write bench.json and the figures (default results/bench/)")
    p.set_defaults(run=run)
