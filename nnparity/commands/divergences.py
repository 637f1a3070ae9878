"""``nnparity divergences``: each framework with its own defaults, as a user porting a model writes it."""
from __future__ import annotations

import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from nnparity import registry, report
from nnparity.arguments import Once, positive_int, writable_file
from nnparity.console import out, sci
from nnparity.divergences import Measured, catalog, measure, unknown_topics
from reference.errors import UserError

START_SHOWN = 1e-12  # below this, the two sides' starting outputs differ only by rounding


def _gap_text(g, measured: str = "predictions", steps_sep=" / ") -> str:
    if g.error:
        return "error"
    text = f"{sci(g.step1)}{steps_sep}{sci(g.stepK)}"
    if measured == "losses":  # the loss each side reports, not its predictions
        text = f"loss {text}"
    elif measured == "epoch-predictions":  # after the first epoch / the last, however many steps each side took
        text = f"epoch 1{steps_sep}last: {text}"
    if g.epochs is not None:  # an early-stopping topic: the first epoch's monitored value / the end
        text = f"val_loss {sci(g.step1)}{steps_sep}end {sci(g.stepK)} (stopped after {g.epochs[0]} / {g.epochs[1]} epochs)"
    return text + (f" (start {sci(g.before)})" if g.before > START_SHOWN else "")


def _table(rows: list[Measured], steps: int) -> Table:
    t = Table(title=f"Each framework's own defaults vs aligned: the max relative gap between two sides' predictions "
                    f"(first 64 rows) after 1 / {steps} steps", title_justify="left")
    for col in ("#", "divergence", "sides", "native gap", "aligned gap"):
        t.add_column(col, justify="right" if col in ("#",) else "left")
    for i, m in enumerate(rows, 1):
        t.add_row(str(i), m.topic.title, f"{m.topic.sides[0]} vs {m.topic.sides[1]}", f"[bold]{_gap_text(m.native, m.topic.measured)}[/]",
                  _gap_text(m.aligned, m.topic.measured))
    return t


def _legend(rows: list[Measured]) -> list[str]:
    return [f"{i}. [bold]{m.topic.sides[0]}[/]: {m.topic.defaults[0]}; [bold]{m.topic.sides[1]}[/]: {m.topic.defaults[1]}. "
            f"[green]Aligned by[/]: {m.topic.aligned}." for i, m in enumerate(rows, 1)]


def markdown(rows: list[Measured], steps: int) -> str:
    lines = [f"| divergence | sides | what each does natively | native gap, 1 / {steps} steps | aligned by | aligned gap |",
             "|---|---|---|---|---|---|"]
    for m in rows:
        tp = m.topic
        lines.append(f"| {tp.title} | {tp.sides[0]} vs {tp.sides[1]} | {tp.sides[0]}: {tp.defaults[0]}; "
                     f"{tp.sides[1]}: {tp.defaults[1]} | **{_gap_text(m.native, tp.measured)}** | {tp.aligned} | "
                     f"{_gap_text(m.aligned, tp.measured)} |")
    return "\n".join(lines) + "\n"


def run(args) -> int:
    topics = catalog(args.topic)
    if args.topic and unknown_topics(args.topic):
        groups = sorted({t.group for t in catalog() if t.group})
        known = ", ".join(t.key for t in catalog())
        raise UserError(f"--topic: unknown topic {', '.join(unknown_topics(args.topic))}; known: {known}; and the groups "
                        f"{', '.join(groups)}.")
    writable_file(args.json, "--json")
    started = time.perf_counter()
    impls: dict = {}
    rows: list[Measured] = []
    try:
        with Progress(TextColumn("divergences"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                      console=out, transient=True) as bar:
            task = bar.add_task("", total=len(topics))
            for topic in topics:
                bar.update(task, description=topic.key)
                for side in topic.sides:
                    if side not in impls:
                        impls[side] = registry.make(side)
                rows.append(measure(topic, impls, args.steps))
                bar.advance(task)
    finally:
        for impl in impls.values():
            impl.close()
    out.print(_table(rows, args.steps))
    for line in _legend(rows):
        out.print(line)
    for m in rows:
        for mode, gap in (("native", m.native), ("aligned", m.aligned)):
            if gap.error:
                out.print(f"[magenta]ERROR[/] {m.topic.key} ({mode}): {gap.error}")
    seconds = time.perf_counter() - started
    if args.markdown:
        out.file.flush()
        print(markdown(rows, args.steps))
    if args.json:
        meta = report.provenance(f"nnparity divergences --steps {args.steps}")
        meta["wall_seconds"] = round(seconds, 1)
        report.write_json(args.json, {"provenance": meta, "steps": args.steps, "topics": [
            {"key": m.topic.key, "title": m.topic.title, "sides": m.topic.sides, "native": m.topic.native,
             "defaults": m.topic.defaults, "aligned_by": m.topic.aligned,
             "native_gap": m.native.__dict__, "aligned_gap": m.aligned.__dict__} for m in rows]})
        out.print(f"wrote {args.json}")
    out.print(f"{len(rows)} divergences measured in {seconds:.0f} s.")
    return 1 if any(m.native.error or m.aligned.error for m in rows) else 0


def add_parser(sub) -> None:
    p = sub.add_parser("divergences", help="how far each framework's own defaults land apart, and what aligns them")
    p.add_argument("--topic", action="append", help="one divergence (repeatable; default: all)")
    p.add_argument("--steps", type=positive_int, default=50, action=Once, help="training steps K (default 50)")
    p.add_argument("--json", metavar="PATH", action=Once, help="also write the measurements, with provenance, as JSON")
    p.add_argument("--markdown", action="store_true", help="also print the table as Markdown (the README's)")
    p.set_defaults(run=run)
