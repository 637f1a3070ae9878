"""The digits notebook (document 004): its NeuralNetwork replayed cell by cell, and the same network in
every framework from the replay's weights and batches."""
from __future__ import annotations

import numpy as np

from nnparity.studies import aligned, digits_sklearn, document_code, plots, printed
from nnparity.studies.context import Context
from reference import spec as S
from reference.datasets import Data

NAME = "digits"
TITLE = "Digits: document 004's NeuralNetwork, cell by cell, and its scikit-learn grid"

DOCUMENT = {
    "n_train": 1437, "n_test": 360,
    "untrained_image0": [5.41511965e-04, 2.17174962e-03, 8.84355903e-03, 1.44970586e-03, 1.10378326e-04, 5.08318298e-09,
                         2.03256632e-04, 1.92507116e-03, 9.84443254e-01, 3.11507992e-04],
    "untrained_prediction0": 8, "label0": 6,
    "old_accuracy": 0.1440501043841336, "new_accuracy": 0.09951287404314545, "single_accuracy": 0.9444444444444444,
    "grid": [[0.11666667, 0.20833333, 0.12222222, 0.14722222, 0.17777778, 0.16111111, 0.20277778],
             [0.53055556, 0.59444444, 0.58888889, 0.61111111, 0.52222222, 0.55555556, 0.80555556],
             [0.85, 0.85, 0.875, 0.86666667, 0.86388889, 0.95555556, 0.925],
             [0.94722222, 0.92777778, 0.94722222, 0.93055556, 0.95555556, 0.76944444, 0.19166667],
             [0.10555556, 0.08611111, 0.10555556, 0.08888889, 0.08611111, 0.08888889, 0.09166667],
             [0.07777778, 0.07777778, 0.07777778, 0.07777778, 0.07777778, 0.10555556, 0.07777778],
             [0.07777778] * 7],
}
ETAS = LAMBDAS = ["1e-05", "1e-04", "1e-03", "1e-02", "1e-01", "1e+00", "1e+01"]


def _cell_kind(i: int, overflowed: bool) -> str:
    if overflowed:
        return "overflow"  # exp() overflowed: NaN probabilities, argmax 0
    return "stable" if i <= 2 else "chaotic"  # eta <= 1e-3 trains smoothly; eta = 1e-2 amplifies rounding x3 per step


def run(ctx: Context) -> dict:
    orders = dict(document_code.SUMMATION_ORDERS) if not ctx.quick else {k: document_code.SUMMATION_ORDERS[k] for k in ("blas", "einsum")}
    with ctx.task("digits: the notebook replayed", 49 if not ctx.quick else 1) as advance, ctx.timed("digits replay of the document's code numpy"):
        replay = document_code.digits_notebook(grid=not ctx.quick, on_cell=advance)
    band = {}
    with ctx.task("digits: the single run under other summation orders", len(orders) - 1) as advance, ctx.timed("digits summation orders numpy"):
        for name, matmul in orders.items():
            band[name] = replay["single_accuracy"] if name == "blas" else document_code.digits_notebook(grid=False, matmul=matmul)["single_accuracy"]
            if name != "blas":
                advance()
    matches = {
        "split": replay["n_train"] == DOCUMENT["n_train"] and replay["n_test"] == DOCUMENT["n_test"],
        "untrained_image0": printed.matches(replay["untrained_image0"], DOCUMENT["untrained_image0"], "scientific"),
        "untrained_prediction0": replay["untrained_prediction0"] == DOCUMENT["untrained_prediction0"] and replay["label0"] == DOCUMENT["label0"],
        "old_accuracy": replay["old_accuracy"] == DOCUMENT["old_accuracy"],
        "new_accuracy": replay["new_accuracy"] == DOCUMENT["new_accuracy"],
        "single_accuracy": replay["single_accuracy"] == DOCUMENT["single_accuracy"],
    }
    result = {"document": DOCUMENT, "replay": {k: replay[k] for k in ("n_train", "n_test", "untrained_image0", "untrained_prediction0",
                                                                     "label0", "old_accuracy", "new_accuracy", "single_accuracy")},
              "matches": matches, "single_run_by_summation_order": band, "figures": []}
    if "grid" in replay:
        kinds = [[_cell_kind(i, replay["grid_overflowed"][i][j]) for j in range(7)] for i in range(7)]
        cell_match = [[printed.matches(replay["grid"][i][j], DOCUMENT["grid"][i][j]) for j in range(7)] for i in range(7)]
        result["replay"]["grid"], result["grid_kinds"], result["grid_matches"] = replay["grid"], kinds, cell_match
        fig, axes = plots.figure(ncols=2, width=5.2, height=5)
        plots.heatmap(axes[0][0], DOCUMENT["grid"], ETAS, LAMBDAS, "document: test accuracy", "lambda", "eta")
        plots.heatmap(axes[0][1], replay["grid"], ETAS, LAMBDAS, "replay (red: differs from the document)", "lambda", "eta",
                      marks=[[not m for m in row] for row in cell_match])
        result["figures"].append(plots.save(fig, ctx.folder(NAME) / "digits_grid.png"))

    # The same single run in every framework: the replay's initial weights and its np.random.choice batches.
    X_train, X_test, Y_train, Y_test, onehot = replay["data"]
    single = replay["single"]
    test_onehot = np.eye(10)[Y_test]
    data = Data(X_train.astype(float), onehot, X_test.astype(float), test_onehot, Y_train, Y_test, 10)
    spec = S.load("digits_sigmoid50")  # sum reduction, l2 = lmbd / 2 = 0.005, SGD 0.01, batch 100
    epochs = 10 if ctx.quick else 100
    per_epoch = [np.concatenate(single.batches[e * 14:(e + 1) * 14]) for e in range(epochs)]
    result["aligned"] = aligned.run(ctx, spec, data, single.initial, epochs, "digits single run", orders=per_epoch,
                                    dtype="float64", eval_rows=len(X_train), eval_every=10)
    seeds = list(range(ctx.seeds))
    result["sklearn"] = {"grid": digits_sklearn.grids(ctx, replay["data"], seeds), "aligned": digits_sklearn.aligned_cell(ctx, replay["data"])}
    if "grid" in replay:
        result["sklearn"]["expectation"] = digits_sklearn.expectation(replay["grid"], result["sklearn"]["grid"])
        result["figures"].append(digits_sklearn.figure(ctx, replay["grid"], result["sklearn"]["grid"]))
    result["notes"] = [
        "Stable cells (eta <= 1e-3) reproduce the document's printed accuracies exactly; eta = 1e-2 is chaotic "
        "(the parity matrix measures rounding growing about threefold per step for this network), and eta >= 0.1 "
        "overflows exp() to NaN, after which argmax picks class 0 (accuracy 0.0778).",
        "The single run (eta = lambda = 0.01) is chaotic too: computed with other, equally correct summation orders "
        f"of its matrix products it ends at {', '.join(f'{k} {v:.4f}' for k, v in band.items())}; "
        + (f"the document's {DOCUMENT['single_accuracy']:.4f} is among them ({', '.join(k for k, v in band.items() if v == DOCUMENT['single_accuracy'])})."
           if DOCUMENT["single_accuracy"] in band.values() else "the document's 0.9444 lies within that spread."),
        "The aligned frameworks start from the replay's weights and take its batches; they agree while rounding is "
        "small and then, like the replay itself, go their own chaotic ways to similar accuracies.",
        "The scikit-learn grid reads the document's cut-off call as MLPClassifier(hidden_layer_sizes=(50), "
        "activation='logistic', alpha=lmbd, learning_rate_init=eta, max_iter=100): Adam, batches of 200, its own "
        "initialisation and shuffling (random_state = the seed). Keras runs the same network with scikit-learn's "
        "objective (L2 = alpha / 400, its penalty at a batch of 200; Adam's epsilon 1e-8), its own initialisation.",
    ]
    return result


def markdown(r: dict) -> str:
    d, rp, m = r["document"], r["replay"], r["matches"]
    yes = lambda ok: "yes" if ok else "**no**"
    rows = ["| printed by the document | replay | matches |", "|---|---|---|",
            f"| split 1437 / 360 | {rp['n_train']} / {rp['n_test']} | {yes(m['split'])} |",
            f"| untrained image 0 probabilities [5.41511965e-04, 2.17174962e-03, ...] | [{rp['untrained_image0'][0]:.8e}, {rp['untrained_image0'][1]:.8e}, ...] | {yes(m['untrained_image0'])} |",
            f"| prediction 8, label 6 | {rp['untrained_prediction0']}, {rp['label0']} | {yes(m['untrained_prediction0'])} |",
            f"| old accuracy {d['old_accuracy']!r} | {rp['old_accuracy']!r} | {yes(m['old_accuracy'])} |",
            f"| new accuracy (1000 full-batch steps) {d['new_accuracy']!r} | {rp['new_accuracy']!r} | {yes(m['new_accuracy'])} |",
            f"| single run, eta = lambda = 0.01: {d['single_accuracy']!r} | {rp['single_accuracy']!r} | {yes(m['single_accuracy'])} |"]
    out = "\n".join(rows) + "\n\n"
    out += "The single run with other summation orders of its products: " + ", ".join(
        f"{k} {v:.4f}" for k, v in r["single_run_by_summation_order"].items()) + ".\n\n"
    if "grid_matches" in r:
        counts = {}
        for i in range(7):
            for j in range(7):
                kind = r["grid_kinds"][i][j]
                c = counts.setdefault(kind, [0, 0])
                c[0] += r["grid_matches"][i][j]
                c[1] += 1
        out += "Grid (eta x lambda, 49 cells): " + "; ".join(f"{k}: {a} of {b} match" for k, (a, b) in counts.items()) + ".\n\n"
    a = r["aligned"]
    names = [k for k in a if k not in ("weight_gaps", "dtype")]
    out += "| single run in | test accuracy | max weight gap to numpy |\n|---|---|---|\n"
    out += f"| the replay (the document's code) | {rp['single_accuracy']:.4f} | - |\n"
    for n in names:
        out += f"| {n} (aligned, {a['dtype']}) | {a[n]['curve'][-1]['test_accuracy']:.4f} | {a['weight_gaps'][n]:.1e} |\n"
    if "expectation" in r["sklearn"]:
        out += digits_sklearn.markdown(r["sklearn"])
    out += "\n" + "\n".join(f"- {n}" for n in r["notes"]) + "\n"
    for fig in r["figures"]:
        out += f"\n![{fig}]({NAME}/{fig})\n"
    return out
