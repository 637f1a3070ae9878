"""``nnparity gradcheck [SPEC]``: finite differences against the reference's own gradients."""
from __future__ import annotations

from rich.table import Table

from nnparity.arguments import Once, positive_int
from nnparity.console import out, sci, verdict
from nnparity.limits import require_memory
from reference import spec as S
from reference.gradcheck import THRESHOLD, GradcheckResult
from reference.gradcheck_suite import GRID_COLUMNS, check_spec, grid


def _tensor_table(r: GradcheckResult) -> Table:
    table = Table(title=f"{r.label}: loss {r.loss:.6g}", title_justify="left")
    for col in ("tensor", "checked", "kink-skipped", "max abs err", "max rel err", "worst element"):
        table.add_column(col, justify="left" if col in ("tensor", "worst element") else "right")
    for t in r.tensors:
        table.add_row(t.name, str(t.checked), str(t.skipped_kinks), sci(t.abs_err), verdict(t.rel_err, THRESHOLD),
                      str(t.worst_index) if t.worst_index is not None else "-")
    return table


def _bundled_table(results: list[GradcheckResult]) -> Table:
    table = Table(title="Bundled specs: max relative error per tensor", title_justify="left")
    for col in ("spec", "tensor", "checked", "kink-skipped", "max abs err", "max rel err"):
        table.add_column(col, justify="left" if col in ("spec", "tensor") else "right")
    for r in results:
        for i, t in enumerate(r.tensors):
            table.add_row(r.label if i == 0 else "", t.name, str(t.checked), str(t.skipped_kinks), sci(t.abs_err),
                          verdict(t.rel_err, THRESHOLD), end_section=i == len(r.tensors) - 1)
    return table


def _grid_table(cells) -> Table:
    table = Table(title="Every activation x loss (64 -> 8 f -> 8 f -> output, first 16 digits, l2 0.01): "
                        "worst relative error over all tensors", title_justify="left")
    table.add_column("hidden f", no_wrap=True)
    for col in GRID_COLUMNS:
        table.add_column(col.replace("/", "\n"), justify="right")
    by = {(c.activation, c.column): c.result for c in cells}
    for act in dict.fromkeys(c.activation for c in cells):
        table.add_row(act, *(verdict(by[act, col].worst.rel_err, THRESHOLD) for col in GRID_COLUMNS))
    return table


def run(args) -> int:
    if args.spec:
        spec = S.load(args.spec)
        require_memory(spec, 1, args.spec)
        result = check_spec(spec, args.rows)
        out.print(_tensor_table(result))
        results = [result]
    else:
        with out.status("finite differences on the bundled specs ..."):
            results = [check_spec(S.load(n), args.rows) for n in S.bundled_names()]
        out.print(_bundled_table(results))
        with out.status("finite differences on every activation x loss ..."):
            cells = grid()
        out.print(_grid_table(cells))
        results += [c.result for c in cells]
    worst = max(results, key=lambda r: r.worst.rel_err)
    failed = [r for r in results if not r.passed]
    n = sum(len(r.tensors) for r in results)
    if failed:
        out.print(f"[bold red]FAIL[/]: {len(failed)} of {len(results)} networks have a tensor above {THRESHOLD:g} "
                  f"(worst {sci(worst.worst.rel_err)}: {worst.label} {worst.worst.name}).")
        return 1
    nets = f"{len(results)} network" + ("s" if len(results) > 1 else "")
    out.print(f"[green]PASS[/]: all {n} tensors of {nets} within {THRESHOLD:g} "
              f"(worst {sci(worst.worst.rel_err)}: {worst.label} {worst.worst.name}).")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("gradcheck", help="check the reference's gradients against finite differences")
    p.add_argument("spec", nargs="?", help="one spec (bundled name or file); default: every bundled spec and the activation x loss grid")
    p.add_argument("--rows", type=positive_int, default=8, action=Once, help="training rows in the checked batch (default 8)")
    p.set_defaults(run=run)
