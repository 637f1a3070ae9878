"""Breast cancer over data-parallel replicas (issue 16's study): document 004's width x learning-rate grid, trained
in float64 by torch as 2 ``DistributedDataParallel`` replicas over gloo (``torch-x2``), by Keras on JAX over 2 host
devices under ``keras.distribution.DataParallel`` (``keras-jax-x2``), by Keras on TensorFlow over 2 logical CPU devices
under ``tf.distribute.MirroredStrategy`` (``keras-tensorflow-x2``), and by the same frameworks and the reference in one
process, from the same weights on the same batches.

Each batch of 100 rows is split into two contiguous shards (``reference/replicas.py``; the shards of the epoch's
last, short batch are in the notes), each replica back-propagates N/B times its summed losses plus the L2 term, and DDP
averages the gradients (on TensorFlow: 1/B times them plus L2/N, which Keras's all-reduce sums): the global batch's
gradient. The question a user asks after the port: does the replicated
run end where the single-process run ends? Per cell: the test accuracy in each, and the final weights' gap to the
reference against the trajectory bound with every step at full relative size (and the all-reduce's rounding,
``tolerance.replica_term``), or, in a chaotic cell, 16 times the reference's own separation from one rounding away.
"""
from __future__ import annotations

import numpy as np

from nnparity.studies import aligned, plots
from nnparity.studies.breast_cancer import ETAS, WIDTHS, _spec, weight_bound
from nnparity.studies.context import Context
from reference import datasets, replicas
from reference import spec as S
from reference.weights import init_weights

NAME = "breast-cancer-replicas"
TITLE = ("Breast cancer over 2 data-parallel replicas: torch DDP, Keras on JAX and Keras on TensorFlow against one process, "
         "the width x rate grid, float64")
REPLICAS = 2
FRAMEWORKS = ["numpy", "torch", f"torch-x{REPLICAS}", "keras-jax", f"keras-jax-x{REPLICAS}", "keras-tensorflow",
              f"keras-tensorflow-x{REPLICAS}"]  # the reference first: gaps to it


def _cell(ctx: Context, data, n: int, eta: float, epochs: int) -> dict:
    spec = _spec(n, eta, epochs)
    res = aligned.run(ctx, spec, data, init_weights(spec), epochs, f"breast cancer x{REPLICAS} n={n} eta={eta:g}",
                      dtype="float64", eval_rows=len(data.x_train), eval_every=epochs, frameworks=FRAMEWORKS)
    bound, own, chaotic = weight_bound(spec, data, epochs, REPLICAS)
    accs = {k: res[k]["curve"][-1]["test_accuracy"] for k in FRAMEWORKS}
    return {"test_accuracy": accs, "weight_gap": {k: res["weight_gaps"][k] for k in FRAMEWORKS[1:]},
            "train_seconds": {k: res[k]["train_seconds"] for k in FRAMEWORKS},
            "weight_bound": bound, "reference_separation": own, "chaotic": chaotic,
            "same_accuracy": len(set(accs.values())) == 1,
            "within_bound": all(not (g > bound) for g in res["weight_gaps"].values())}


def _sizes(rows: int) -> str:
    return " / ".join(str(p.stop - p.start) for p in replicas.shards(rows, REPLICAS))


def run(ctx: Context) -> dict:
    widths, etas = ([1, 10], [1e-2]) if ctx.quick else (WIDTHS, ETAS)
    epochs = 5 if ctx.quick else 100
    data = datasets.for_spec(S.load("breast_cancer_relu10"), dtype=np.float64)
    grid = {f"{n}/{eta:g}": _cell(ctx, data, n, eta, epochs) for n in widths for eta in etas}
    same = sum(c["same_accuracy"] for c in grid.values())
    within = sum(c["within_bound"] for c in grid.values())
    worst = {k: max(c["weight_gap"][k] for c in grid.values()) for k in FRAMEWORKS[1:]}
    notes = [f"float64, the spec's glorot-uniform weights, the shared schedule (batch 100, {epochs} epochs of "
             f"{len(data.x_train)} rows: {int(np.ceil(len(data.x_train) / 100)) * epochs} steps), SGD at each cell's rate.",
             f"torch-x{REPLICAS}: {REPLICAS} processes started by torch.distributed.run on this machine, loss N/B x the "
             f"shard's summed losses + L2, gradients averaged by DDP; keras-jax-x{REPLICAS}: one process, {REPLICAS} host "
             f"devices, the global batch's loss as one SPMD program; keras-tensorflow-x{REPLICAS}: one process, "
             f"{REPLICAS} logical CPU devices under MirroredStrategy, each replica's summed losses / B + L2 / N, summed by "
             "Keras's all-reduce. Each batch in contiguous shards "
             f"({_sizes(100)} rows; the epoch's last batch of {len(data.x_train) % 100}: {_sizes(len(data.x_train) % 100)}).",
             f"Same test accuracy in all {len(FRAMEWORKS)} in {same} of {len(grid)} cells; final weights within the bound "
             f"in {within} of {len(grid)}; the largest gap to the reference: "
             + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()) + "."]
    return {"grid": grid, "widths": widths, "etas": etas, "epochs": epochs, "replicas": REPLICAS,
            "frameworks": FRAMEWORKS, "notes": notes, "figures": [_figure(ctx, widths, etas, grid)],
            "document": {"printed": None, "note": "Document 004 trains this grid in one process; it prints no numbers."}}


def _figure(ctx: Context, widths, etas, grid) -> str:
    fig, axes = plots.figure(ncols=len(FRAMEWORKS), nrows=1, width=3.4, height=3.3)
    for c, name in enumerate(FRAMEWORKS):
        values = [[grid[f"{n}/{eta:g}"]["test_accuracy"][name] for eta in etas] for n in widths]
        plots.heatmap(axes[0][c], values, widths, [f"{e:g}" for e in etas], f"{name}\ntest accuracy", "eta", "neurons")
    return plots.save(fig, ctx.folder(NAME) / "breast_cancer_replicas.png")


def markdown(r: dict) -> str:
    names = r["frameworks"]
    out = ("| neurons | eta | " + " | ".join(f"{n}: test accuracy" for n in names) + " | weight gap to numpy: "
           + " / ".join(names[1:]) + " | bound | agree |\n" + "|" + "---|" * (len(names) + 5) + "\n")
    for key, c in r["grid"].items():
        n, eta = key.split("/")
        verdict = "yes" if c["same_accuracy"] and c["within_bound"] else "**no**"
        if c["chaotic"]:
            verdict += " (chaotic: the reference from one rounding away ends " + f"{c['reference_separation']:.0e} apart)"
        out += (f"| {n} | {eta} | " + " | ".join(f"{c['test_accuracy'][k]:.3f}" for k in names) + " | "
                + " / ".join(f"{c['weight_gap'][k]:.1e}" for k in names[1:]) + f" | {c['weight_bound']:.1e} | {verdict} |\n")
    out += "\n" + "\n".join(f"- {n}" for n in r["notes"]) + "\n"
    out += "".join(f"\n![{f}]({NAME}/{f})\n" for f in r["figures"])
    return out
