"""One rich console for output, one for errors, and the number formats every report shares."""
from __future__ import annotations

import math
import os
import sys

from rich.console import Console


def _width(stream) -> int | None:
    # Piped output (CI logs, files) gets 120 columns instead of rich's 80, unless COLUMNS says otherwise.
    return None if stream.isatty() or "COLUMNS" in os.environ else 120


out = Console(highlight=False, width=_width(sys.stdout))
err = Console(stderr=True, highlight=False, width=_width(sys.stderr))


def sci(x: float | None) -> str:
    """An error as 3.2e-11; exact zeros as 0; missing as '-'."""
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return str(x)
    return f"{x:.1e}"


def verdict(x: float, limit: float) -> str:
    """``x`` coloured green within ``limit``, red above it."""
    return f"[green]{sci(x)}[/]" if x <= limit else f"[bold red]{sci(x)}[/]"
