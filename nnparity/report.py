"""The parity matrix as a rich table (what people look at) and as JSON (what tools read).

Table: one per dtype and device; rows spec x check, columns implementation, cells the max
relative error, green within its tolerance, red outside it, ERROR or skip with the reason below.
A failure is explained under the table: which tensor of which layer diverged first, and at which step.
"""
from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections import defaultdict
from enum import Enum
from pathlib import Path

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from nnparity import atomic
from nnparity.console import sci
from nnparity.runner import Outcome

STEP_GROUP = "step"


def _cell(outcomes: list[Outcome]) -> str:
    """One cell; several outcomes (the optimizers of a compact 'steps' row) show the worst."""
    if any(o.status == "error" for o in outcomes):
        return "[bold magenta]ERROR[/]"
    live = [o for o in outcomes if o.status in ("pass", "fail")]
    if not live:
        return "[dim]skip[/]" if all(o.status == "skip" for o in outcomes) else "[yellow]unsupported[/]"
    worst = max(live, key=lambda o: (o.status == "fail", (o.max_rel or 0) / (o.tol or 1e-300) if o.tol else o.max_rel or 0))
    text = sci(worst.max_rel)
    if len(outcomes) > 1 and worst.status == "fail":
        text += f" {worst.check[5:]}"
    return f"[bold red]{text}[/]" if worst.status == "fail" else f"[green]{text}[/]"


def tables(outcomes: list[Outcome], expand_steps: bool = False) -> list[Table]:
    impls = list(dict.fromkeys(o.impl for o in outcomes))
    groups = defaultdict(list)
    for o in outcomes:
        groups[o.dtype, o.device].append(o)
    out = []
    for (dtype, device), group in groups.items():
        t = Table(title=f"{dtype} on {device}: max relative error per check (green: within tolerance)",
                  title_justify="left")
        t.add_column("spec", no_wrap=True)
        t.add_column("check", no_wrap=True)
        for impl in impls:
            t.add_column(escape(impl), justify="right", no_wrap=True)
        t.add_column("tolerance", justify="right", style="dim")
        rows = defaultdict(list)
        for o in group:
            check = o.check if expand_steps or not o.check.startswith("step-") else STEP_GROUP
            rows[o.spec, check].append(o)
        specs = list(dict.fromkeys(o.spec for o in group))
        for spec in specs:
            keys = [k for k in rows if k[0] == spec]
            for i, key in enumerate(keys):
                cells = [_cell([o for o in rows[key] if o.impl == impl] or []) if any(o.impl == impl for o in rows[key]) else ""
                         for impl in impls]
                tols = [o.tol for o in rows[key] if o.tol is not None]
                tol = sci(max(tols)) if tols else ""
                label = key[1] if key[1] != STEP_GROUP else f"steps ({len({o.check for o in rows[key]})} optimizers)"
                t.add_row(escape(spec) if i == 0 else "", label, *cells, tol, end_section=i == len(keys) - 1)
        out.append(t)
    return out


def explain(o: Outcome, verbose: bool = False) -> str:
    """One paragraph: what went wrong in this cell, and the hints that match (rich markup; user text escaped).
    An error is one line of reason; ``verbose`` adds its traceback or the worker's last output."""
    text = _explain(o)
    if verbose and o.detail:
        text += "\n" + "\n".join(f"    {escape(line)}" for line in o.detail.splitlines())
    return text + "".join(f"\n    [yellow]hint[/]: {escape(h)}" for h in o.hints)


def plain(markup: str) -> str:
    """Rich markup as plain text (pytest's assertion messages, logs)."""
    return Text.from_markup(markup).plain


def _explain(o: Outcome) -> str:
    if o.status in ("error", "skip", "unsupported"):
        label = {"error": "[magenta]ERROR[/]", "skip": "[dim]skip[/]", "unsupported": "[yellow]unsupported[/]"}[o.status]
        return f"{label} {escape(o.id)}: {escape(o.message or '')}"
    f = o.failure or {}
    where = escape(f"{f.get('tensor')}") + (f" at step {f['step'] + 1}" if len(o.curve) > 1 else "")
    if f.get("problem"):
        return f"[red]FAIL[/] {escape(o.id)}: {where}: {escape(f['problem'])}"
    index = f" (worst element {tuple(f['index'])})" if f.get("index") is not None else ""
    text = (f"[red]FAIL[/] {escape(o.id)}: first divergence in {where}{index}: relative error {sci(f.get('max_rel'))} > "
            f"tolerance {sci(f.get('tol'))} (max abs {sci(f.get('max_abs'))}")
    if f.get("scale") and f.get("own_scale") is not None and f["scale"] > 2 * f["own_scale"]:
        text += (f"; judged against its operands' scale {sci(f['scale'])}, the tensor itself reaching only "
                 f"{sci(f['own_scale'])}")
    text += ")"
    w = o.worst or {}
    if len(o.curve) > 1 and w and (w.get("step"), w.get("tensor")) != (f.get("step"), f.get("tensor")):
        text += (f"; the table's {sci(o.max_rel)} is the worst over all steps ({escape(str(w.get('tensor')))} at step "
                 f"{w['step'] + 1})")
    return text


def chaos_notes(outcomes: list[Outcome]) -> list[str]:
    """For each spec and dtype whose reference amplifies rounding: from which step, and how fast."""
    notes, seen = [], set()
    for o in outcomes:
        if o.check != "trajectory" or o.horizon is None or (o.spec, o.dtype) in seen:
            continue
        seen.add((o.spec, o.dtype))
        rate = f", about x{o.growth:.1f} per step" if o.growth else ""
        what = ("one rounding of the starting weights grows" if o.dtype == "float64" else
                "the reference computed in float32 drifts from the float64 one")
        notes.append(f"[yellow]chaotic[/] {escape(o.spec)} ({o.dtype}): {what}{rate}; from step {o.horizon + 1} on, rounding "
                     f"alone separates two correct implementations by more than the formula's bound, and the trajectory "
                     f"check asserts only that none diverges faster than that.")
    return notes


def summary(outcomes: list[Outcome]) -> dict:
    counts = defaultdict(int)
    for o in outcomes:
        counts[o.status] += 1
    return dict(counts)


def verdict(outcomes: list[Outcome]) -> tuple[str, int]:
    """(the verdict in markup, the exit code): FAIL (1) on any failure or error; NOTHING CHECKED (1) when no
    check ran (every cell skipped or unsupported): never a PASS on nothing; else PASS (0)."""
    counts = summary(outcomes)
    if counts.get("fail") or counts.get("error"):
        return "[bold red]FAIL[/]", 1
    if not counts.get("pass"):
        return "[bold red]NOTHING CHECKED[/]", 1
    return "[green]PASS[/]", 0


def counts_text(outcomes: list[Outcome]) -> str:
    counts = summary(outcomes)
    parts = [f"{counts.get('pass', 0)} passed", f"{counts.get('fail', 0)} failed", f"{counts.get('error', 0)} errors"]
    parts += [f"{counts[k]} {k}" for k in ("unsupported",) if counts.get(k)]
    return ", ".join(parts + [f"{counts.get('skip', 0)} skipped"])


def command_line(subcommand: str, fallback: str | None = None) -> str:
    """The command as typed (``nnparity SUBCOMMAND ...``) when this process was started by it, else
    ``fallback`` (by default ``nnparity SUBCOMMAND``): ``make run`` and the tests call commands in-process."""
    if sys.argv[1:2] == [subcommand]:
        return "nnparity " + " ".join(sys.argv[1:])
    return fallback or f"nnparity {subcommand}"


def provenance(command: str) -> dict:
    import importlib.metadata as md
    import subprocess

    versions = {}
    for package in ("numpy", "scipy", "scikit-learn", "torch", "tensorflow-cpu", "keras", "jax", "jaxlib"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = None
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=here).stdout.strip() or None
        # dirty: the code differs from the commit. Not results/: the command's own outputs there (and
        # an earlier run's) are what it writes, not what it ran.
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)", ":(top,exclude)results"],
                                    capture_output=True, text=True, timeout=5, cwd=here).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"command": command, "git_commit": commit, "git_dirty": dirty, "versions": versions, "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "host": platform.node(),
            "machine": {"platform": platform.platform(), "processor": platform.machine(), "cpu_model": _cpu_model(),
                        "cpus": os.cpu_count()}}


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def jsonable(value):
    """Strict JSON: infinities and NaN as the strings "inf", "-inf", "nan"; tuples as lists; an enum member as
    its name in kebab case (``Native.BATCH_NORM_EPSILON`` -> "batch-norm-epsilon")."""
    if isinstance(value, Enum):
        return value.name.lower().replace("_", "-")
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if value != value else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return jsonable(value.item())
    return value


def write_json(path: Path, data: dict) -> None:
    """Atomically: a reader never sees a half-written file."""
    text = json.dumps(jsonable(data), indent=1, allow_nan=False) + "\n"
    with atomic.replacing(path) as tmp:
        tmp.write_text(text)
