"""The figures of the reproductions (matplotlib, written as PNG beside each study's JSON).

matplotlib is imported on the first figure, not with the module: every ``nnparity`` command loads this
module (through the bench and reproduce commands' tables), and importing pyplot costs half a second.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from nnparity import atomic

COLORS = {"numpy": "#1f77b4", "torch": "#d62728", "keras-tensorflow": "#2ca02c", "keras-jax": "#9467bd",
          "keras-torch": "#8c564b", "keras (native)": "#7f7f7f", "document": "#000000"}


@cache
def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 4.0):
    fig, axes = pyplot().subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes


def save(fig, path: Path) -> str:
    """Atomically, so a half-written PNG never replaces a good one; returns the file name."""
    path = Path(path)
    try:
        with atomic.replacing(path) as tmp:
            fig.tight_layout()
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        pyplot().close(fig)
    return path.name


def heatmap(ax, values, rows, cols, title: str, xlabel: str, ylabel: str, fmt="{:.1f}%", scale=100.0, marks=None):
    """A matshow in [0, 1] annotated per cell (the documents' plot_data), ``marks`` a bool grid to outline."""
    v = np.asarray(values, dtype=float)
    im = ax.matshow(v, cmap="viridis", vmin=0, vmax=1)
    for i in range(v.shape[0]):
        for j in range(v.shape[1]):
            text = "nan" if not np.isfinite(v[i, j]) else fmt.format(v[i, j] * scale)
            ax.text(j, i, text, ha="center", va="center", color="white" if v[i, j] < 0.6 else "black", fontsize=8)
            if marks is not None and marks[i][j]:
                ax.add_patch(pyplot().Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    ax.set_xticks(range(len(cols)), [str(c) for c in cols], fontsize=8)
    ax.set_yticks(range(len(rows)), [str(r) for r in rows], fontsize=8)
    ax.xaxis.set_ticks_position("bottom")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return im
