"""Document 004's scikit-learn grid: ``MLPClassifier`` over the same eta x lambda values as its NeuralNetwork, on the
notebook's own split, as written over several seeds; the same network in Keras; and the document's expectation,
"scikit-learn implements a few improvements from our neural network ... We would therefore expect a better
performance overall", tested cell by cell. Then one cell aligned: scikit-learn from the spec's weights on the shared
batches (``partial_fit`` per batch, no shuffling of its own), against the reference in float64.

The document's call is cut off at ``act`` and ``max_it``; with its ``n_hidden_neurons = 50``, ``epochs = 100`` and
the logistic activation of the network it compares against, it reads
``MLPClassifier(hidden_layer_sizes=(n_hidden_neurons), activation="logistic", alpha=lmbd, learning_rate_init=eta,
max_iter=epochs)``: every other argument is scikit-learn's default (Adam, batches of 200, its own shuffling).
"""
from __future__ import annotations

import numpy as np

from nnparity.studies import aligned, plots
from nnparity.studies.context import Context
from reference import spec as S
from reference import tolerance as T
from reference.datasets import Data
from reference.weights import init_weights

HIDDEN, EPOCHS, SK_BATCH = 50, 100, 200  # the document's n_hidden_neurons and epochs; scikit-learn's min(200, n)
VALUES = [float(v) for v in np.logspace(-5, 1, 7)]  # the document's eta_vals and lmbd_vals
SPEC = "digits_sigmoid50_sklearn"  # the aligned cell: eta = 1e-3, lmbd = 0.1
ALIGNED = ["numpy", "torch", "keras-tensorflow", "sklearn"]


def _grid(ctx: Context, framework: str, function: str, arrays: dict, seeds: list[int], etas: list[float], **kw) -> list:
    """[seed][eta][lambda] test accuracies, one remote call per (seed, eta) row."""
    out = []
    with ctx.task(f"digits: {framework} grid as written", len(seeds) * len(etas)) as advance, \
            ctx.timed(f"digits {framework} grid native {framework}"):
        for seed in seeds:
            rows = []
            for eta in etas:
                result, _ = ctx.impl(framework, lane="native").call(
                    f"nnparity.studies.remote:{function}", arrays, eta=eta, lambdas=VALUES, hidden=HIDDEN, seed=seed, **kw)
                rows.append(result["test_accuracy"])
                advance()
            out.append(rows)
    return out


def grids(ctx: Context, data: tuple, seeds: list[int]) -> dict:
    """scikit-learn and Keras over the grid, each in its own worker at once."""
    x_train, x_test, y_train, y_test, _ = data
    arrays = {"x_train": x_train.astype(np.float64), "y_train": y_train, "x_test": x_test.astype(np.float64), "y_test": y_test}
    keras_arrays = {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in arrays.items()}
    etas = VALUES if not ctx.quick else VALUES[2:3]
    epochs = EPOCHS if not ctx.quick else 5
    done = ctx.parallel({
        "sklearn": lambda: _grid(ctx, "sklearn", "sklearn_grid_row", arrays, seeds, etas, epochs=epochs),
        "keras": lambda: _grid(ctx, "keras-tensorflow", "keras_grid_row", keras_arrays, seeds, etas, epochs=epochs,
                               batch_size=SK_BATCH),
    })
    return {"etas": etas, "lambdas": VALUES, "epochs": epochs, "seeds": seeds,
            **{name: {"runs": runs, "mean": np.mean(runs, axis=0).tolist(), "min": np.min(runs, axis=0).tolist(),
                      "max": np.max(runs, axis=0).tolist()} for name, runs in done.items()}}


def expectation(replay_grid: list, g: dict) -> dict:
    """'A better performance overall': scikit-learn's mean over seeds against the replayed NeuralNetwork, per cell,
    and the best cell of each (the replay's grid is one run: the document's own)."""
    rows = [VALUES.index(eta) for eta in g["etas"]]
    nn = np.asarray(replay_grid)[rows]
    sk, keras = np.asarray(g["sklearn"]["mean"]), np.asarray(g["keras"]["mean"])

    def best(a):
        i, j = np.unravel_index(int(np.nanargmax(a)), a.shape)
        return {"accuracy": float(a[i, j]), "eta": g["etas"][i], "lambda": VALUES[j]}

    return {"cells": int(nn.size), "sklearn_better": int(np.sum(sk > nn)), "sklearn_worse": int(np.sum(sk < nn)),
            "sklearn_better_beyond_seeds": int(np.sum(np.asarray(g["sklearn"]["min"]) > nn)),
            "best": {"neural_network": best(nn), "sklearn": best(sk), "keras": best(keras)}}


def aligned_cell(ctx: Context, data: tuple) -> dict:
    """The spec's cell in every framework, scikit-learn among them, from the spec's weights on the shared schedule
    over the notebook's split, in float64; and the trajectory bound (``reference/tolerance.py``) with every step
    taken as large as the weights (r_i = 1: an upper bound on the formula's)."""
    x_train, x_test, y_train, y_test, onehot = data
    spec = S.load(SPEC)
    epochs = spec.training.epochs if not ctx.quick else 2
    d = Data(x_train.astype(float), onehot, x_test.astype(float), np.eye(10)[y_test], y_train, y_test, 10)
    frameworks = ctx.aligned + [f for f in ALIGNED if f not in ctx.aligned]
    out = aligned.run(ctx, spec, d, init_weights(spec), epochs, "digits sklearn cell", dtype="float64",
                      eval_rows=len(x_train), eval_every=max(1, epochs // 10), frameworks=frameworks)
    per_epoch = -(-len(x_train) // spec.training.batch_size)  # the last batch short, as the shared schedule cuts it
    steps = per_epoch * epochs
    out["bound"] = T.trajectory_bounds(spec, "float64", spec.training.batch_size, spec.optimizer, [1.0] * steps, per_epoch)[-1]
    out["steps"] = steps
    return out


def figure(ctx: Context, replay_grid: list, g: dict) -> str:
    rows = [VALUES.index(eta) for eta in g["etas"]]
    labels = [f"{v:.0e}" for v in VALUES]
    fig, axes = plots.figure(ncols=3, width=5.0, height=5.0)
    plots.heatmap(axes[0][0], np.asarray(replay_grid)[rows], [labels[i] for i in rows], labels,
                  "NeuralNetwork (the document's code, replayed)", "lambda", "eta")
    plots.heatmap(axes[0][1], g["sklearn"]["mean"], [labels[i] for i in rows], labels,
                  f"MLPClassifier as written (mean of {len(g['seeds'])} seeds)", "lambda (alpha)", "eta")
    plots.heatmap(axes[0][2], g["keras"]["mean"], [labels[i] for i in rows], labels,
                  f"the same network in Keras (mean of {len(g['seeds'])} seeds)", "lambda (alpha)", "eta")
    return plots.save(fig, ctx.folder("digits") / "digits_sklearn_grid.png")


def markdown(r: dict) -> str:
    e, g, a = r["expectation"], r["grid"], r["aligned"]
    b = e["best"]
    names = [k for k in a if k not in ("weight_gaps", "dtype", "bound", "steps")]
    out = (f"\n**Document 004's scikit-learn grid** ({len(g['etas'])} x {len(g['lambdas'])} cells, {g['epochs']} epochs, "
           f"seeds {g['seeds']}): scikit-learn's mean test accuracy beats the replayed NeuralNetwork in {e['sklearn_better']} "
           f"of {e['cells']} cells (in {e['sklearn_better_beyond_seeds']} with every seed), trails it in {e['sklearn_worse']}. "
           f"Best cells: NeuralNetwork {b['neural_network']['accuracy']:.4f} (eta {b['neural_network']['eta']:g}, lambda "
           f"{b['neural_network']['lambda']:g}), scikit-learn {b['sklearn']['accuracy']:.4f} (eta {b['sklearn']['eta']:g}, "
           f"alpha {b['sklearn']['lambda']:g}), Keras {b['keras']['accuracy']:.4f} (eta {b['keras']['eta']:g}, alpha "
           f"{b['keras']['lambda']:g}).\n\n")
    out += (f"| {SPEC} aligned (float64, {a['steps']} steps) | test accuracy | max weight gap to {names[0]} |\n"
            "|---|---|---|\n")
    for n in names:
        out += f"| {n} | {a[n]['curve'][-1]['test_accuracy']:.4f} | {a['weight_gaps'][n]:.1e} |\n"
    out += f"\nThe trajectory bound after {a['steps']} steps, every step taken as large as the weights: {a['bound']:.1e}.\n"
    return out
