"""Does a replayed number reproduce what a document printed? NumPy prints 8 digits after the point,
in fixed notation (0.61238907) or scientific (3.59462173e-02): the number matches if it rounds to
those digits, i.e. lies within half a unit of the last printed digit."""
from __future__ import annotations

import math

import numpy as np


def matches(ours, printed, style: str = "fixed", digits: int = 8) -> bool:
    a = np.asarray(ours, dtype=float).ravel()
    b = np.asarray(printed, dtype=float).ravel()
    if a.shape != b.shape:
        return False
    for x, p in zip(a, b):
        unit = 10.0 ** -digits if style == "fixed" else 10.0 ** (math.floor(math.log10(abs(p))) - digits) if p else 10.0 ** -digits
        if abs(x - p) > 0.5 * unit * (1 + 1e-9):
            return False
    return True
