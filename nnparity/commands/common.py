"""What ``parity``, ``check`` and ``golden verify`` share: choosing from the command line, starting the
implementations a user named (a usage error if one cannot load), the progress bar, and the verdict."""
from __future__ import annotations

import threading
from collections import Counter

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nnparity import registry, report, runner
from nnparity.console import out
from reference.checks import STEP_OPTIMIZERS, check_names
from reference.errors import UserError

DTYPES = ["float64", "float32"]


def choose(given: list[str] | None, known: list[str], what: str, aliases: dict[str, list[str]] | None = None) -> list[str]:
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


def checks(given: list[str] | None, replicas: int = 1) -> list[str]:
    return choose(given, check_names(replicas=replicas), "check", {"step": [f"step-{k}" for k in STEP_OPTIMIZERS]})


def implementations(given: list[str] | None, replicas: int = 1) -> list[str]:
    """Built-in or plugin names, or module.path:ClassName targets; default: the built-ins. Over ``replicas`` > 1,
    each built-in's replicated name (``torch-x2``); a plugin has no launcher of ours, so it is refused."""
    names = registry.names() if not given else list(dict.fromkeys(given))
    for g in names:
        if not registry.is_target(g) and g not in registry.known():
            raise UserError(f"--impl {g}: unknown; known: {', '.join(registry.known())}, or module.path:ClassName.")
        if replicas > 1 and g not in registry.names():
            raise UserError(f"--impl {g} with --replicas {replicas}: replicas run the built-in implementations only "
                            f"({', '.join(registry.REPLICATED)} so far), each under its framework's own launcher.")
    return [registry.replicated_name(n, replicas) for n in names]


def start(names: list[str], named_by_user: bool, timeout: float) -> dict:
    """A pool of running implementations (``runner.run(pool=...)``; the caller closes it). Those the user named
    are started now, side by side, and one that cannot load or run here is a usage error before any check runs;
    the default built-ins that are missing here become skipped cells instead."""
    if not named_by_user:
        return {(name, 0): registry.make(name, timeout=timeout) for name in names}
    started: dict = {}
    errors: list[UserError] = []

    def load(name: str) -> None:
        try:
            started[name, 0] = registry.load(name, timeout=timeout)
        except UserError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        runner.close_pool(started)
        raise errors[0]
    return {(n, 0): started[n, 0] for n in names}


def run_matrix(sel: runner.Selection, pool: dict, timeout: float, title: str) -> list[runner.Outcome]:
    """Every cell of ``sel`` with a progress bar, the implementations taken from ``pool``."""
    with Progress(TextColumn(title), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.description}"),
                  console=out, transient=True) as bar:
        task = bar.add_task("", total=sel.cells)

        def progress(o: runner.Outcome) -> None:
            bar.update(task, advance=1, description=escape(f"{o.spec} {o.impl} {o.dtype} {o.check}"))

        return runner.run(sel, lambda name: pool[name, 0], progress, timeout=timeout, pool=pool)


def print_problems(outcomes: list[runner.Outcome], verbose: bool) -> None:
    """Every failure with its hints; every error as one line (its traceback once, with ``verbose``); skipped and
    unsupported cells summed per implementation and reason."""
    shown: set[str] = set()
    for o in outcomes:
        if o.status == "fail":
            out.print(report.explain(o))
        elif o.status == "error":
            out.print(report.explain(o, verbose=verbose and o.message not in shown))
            shown.add(o.message)
    for status in ("unsupported", "skip"):
        for (impl, why), n in Counter((o.impl, o.message) for o in outcomes if o.status == status).items():
            out.print(f"[dim]{status}: {escape(impl)} ({n} cells): {escape(why or '')}[/]")
    if not verbose and any(o.status == "error" and o.detail for o in outcomes):
        out.print("[dim]--verbose shows each error's traceback (the JSON report has them too).[/]")


def finish(outcomes: list[runner.Outcome], prefix: str, seconds: float) -> int:
    """The verdict line; the exit code (0 only when checks ran and every one passed)."""
    text, code = report.verdict(outcomes)
    out.print(f"{text}: {escape(prefix)}{report.counts_text(outcomes)}, in {seconds:.0f} s.")
    return code
