"""The benchmark's figures: throughput per implementation and batch size, and where the parity matrix's time goes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nnparity.studies import plots


def throughput(timings: list[dict], title: str, path: Path) -> str:
    """Grouped bars: samples/s per implementation at each (dtype, batch), min-max as error bars, % of peak on top."""
    groups = list(dict.fromkeys((t["dtype"], t["batch"]) for t in timings))
    impls = list(dict.fromkeys(t["impl"] for t in timings))
    fig, axes = plots.figure(width=max(5.0, 1.3 * len(impls) * len(groups)), height=4.2)
    ax, width = axes[0][0], 0.8 / max(1, len(impls))
    for k, impl in enumerate(impls):
        for g, (dtype, batch) in enumerate(groups):
            t = next((t for t in timings if t["impl"] == impl and t["dtype"] == dtype and t["batch"] == batch), None)
            if t is None or not t.get("seconds"):
                continue
            x = g + (k - (len(impls) - 1) / 2) * width
            rate = t["samples_per_second"]
            n = t["steps"] * t["batch"]
            err = [[rate - n / t["max_seconds"]], [n / t["min_seconds"] - rate]]
            ax.bar(x, rate, width, yerr=err, capsize=2, color=plots.COLORS.get(impl, "#444444"), label=impl if g == 0 else None)
            if t.get("fraction_of_peak"):
                ax.text(x, rate, f"{100 * t['fraction_of_peak']:.0f}%", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(groups)), [f"{d}, batch {b}" for d, b in groups])
    ax.set_ylabel("training samples / s (median; bars: min-max)")
    ax.set_title(title + "\nlabels: achieved GFLOP/s as % of the measured matmul peak", fontsize=9)
    if ax.get_legend_handles_labels()[0]:  # nothing measured (every implementation unavailable): no legend
        ax.legend(fontsize=8)
    return plots.save(fig, path)


def parity_breakdown(profile: dict, path: Path) -> str:
    """One horizontal bar per implementation: start-up, checks, waiting; the main thread's preparation beside them."""
    rows = list(profile["implementations"].items())
    names = [k.split("#")[0] for k, _ in rows] + ["main thread: reference"]
    parts = {"start-up": [v["startup_seconds"] for _, v in rows] + [0.0],
             "checks": [v["check_seconds"] for _, v in rows] + [profile["prepare_seconds"]],
             "waiting": [v["waiting_seconds"] for _, v in rows] + [0.0]}
    fig, axes = plots.figure(width=7.5, height=0.5 * len(names) + 1.5)
    ax, left = axes[0][0], np.zeros(len(names))
    for (label, values), color in zip(parts.items(), ("#ff7f0e", "#1f77b4", "#cccccc")):
        ax.barh(names, values, left=left, color=color, label=label)
        left += np.asarray(values)
    ax.axvline(profile["wall_seconds"], color="black", linestyle="--", linewidth=1, label=f"wall {profile['wall_seconds']:.0f} s")
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title(f"nnparity parity (default matrix, {profile['cells']} cells): where the wall time goes", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    return plots.save(fig, path)
