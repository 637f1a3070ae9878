"""Breast cancer with Keras (document 004): the hidden-width x learning-rate grid, natively in Keras as
the document wrote it (several seeds) and aligned in every framework from the same weights."""
from __future__ import annotations

import dataclasses

import numpy as np

from nnparity.studies import aligned, plots
from nnparity.studies.context import Context
from reference import datasets, spec as S, tolerance
from reference.weights import init_weights

NAME = "breast-cancer"
TITLE = "Breast cancer: 2 x Dense(n, relu, l2 0.01), the width x learning-rate grid (document 004)"
WIDTHS, ETAS = [1, 10, 100, 1000], [1e-3, 1e-2, 1e-1]


def _spec(n: int, eta: float, epochs: int) -> S.Spec:
    base = S.load("breast_cancer_relu10")
    layers = tuple(dataclasses.replace(l, units=n) for l in base.layers[:2]) + base.layers[2:]
    return S.validate(dataclasses.replace(base, name=f"breast_cancer_relu{n}_eta{eta:g}", layers=layers,
                                          optimizer=S.Optimizer("sgd", {"learning_rate": eta}),
                                          training=dataclasses.replace(base.training, epochs=epochs)))


def _aligned_cell(ctx: Context, data, n: int, eta: float, epochs: int) -> dict:
    spec = _spec(n, eta, epochs)
    res = aligned.run(ctx, spec, data, init_weights(spec), epochs, f"breast cancer n={n} eta={eta:g}", dtype="float64",
                      eval_rows=len(data.x_train), eval_every=epochs)
    steps = epochs * int(np.ceil(len(data.x_train) / spec.training.batch_size))
    # The trajectory bound with every step at full relative size (r = 1): an upper bound of rounding alone.
    bound = tolerance.trajectory_bounds(spec, "float64", spec.training.batch_size, spec.optimizer, [1.0] * steps)[-1]
    names = [k for k in res if k not in ("weight_gaps", "dtype")]
    accs = {k: res[k]["curve"][-1]["test_accuracy"] for k in names}
    return {"aligned": {k: {"test_accuracy": accs[k], "train_accuracy": res[k]["curve"][-1]["train_accuracy"],
                            "weight_gap": res["weight_gaps"][k]} for k in names},
            "weight_bound": bound,
            "agree": len(set(accs.values())) == 1 and all(not (g > bound) for g in res["weight_gaps"].values())}


def run(ctx: Context) -> dict:
    widths, etas = ([1, 10], [1e-2]) if ctx.quick else (WIDTHS, ETAS)
    epochs = 5 if ctx.quick else 100
    seeds = list(range(ctx.seeds))
    data = datasets.for_spec(S.load("breast_cancer_relu10"), dtype=np.float64)
    arrays = {"x_train": data.x_train.astype(np.float32), "y_train": data.y_train.astype(np.float32),
              "x_test": data.x_test.astype(np.float32), "y_test": data.y_test.astype(np.float32)}

    def native_grid():
        native = {}
        with ctx.task("breast cancer: Keras as the document wrote it", len(widths) * len(etas) * len(seeds)) as advance:
            for n in widths:
                for eta in etas:
                    runs = []
                    for seed in seeds:
                        with ctx.timed("breast-cancer native keras-tensorflow"):
                            result, _ = ctx.impl("keras-tensorflow", lane="native").call(
                                "nnparity.studies.remote:keras_as_document", arrays,
                                layers=[{"units": n, "activation": "relu", "l2": 0.01}] * 2 + [{"units": 2, "activation": "softmax"}],
                                loss="categorical_crossentropy", optimizer={"learning_rate": eta}, epochs=epochs, batch_size=100,
                                seed=seed)
                        runs.append({k: result[k] for k in ("seed", "test_accuracy", "train_accuracy", "test_loss", "seconds")})
                        advance()
                    native[f"{n}/{eta:g}"] = runs
        return native

    def aligned_grid():
        return {f"{n}/{eta:g}": _aligned_cell(ctx, data, n, eta, epochs) for n in widths for eta in etas}

    # The native runs train in a worker of their own beside the aligned ones (Context.parallel).
    done = ctx.parallel({"native": native_grid, "aligned": aligned_grid})
    native, grid = done["native"], done["aligned"]
    figure = _figure(ctx, widths, etas, native, grid)
    majority = float(np.bincount(data.labels_test).max() / len(data.labels_test))
    one_class = [key for key, cell in grid.items() if cell["aligned"]["numpy"]["test_accuracy"] == majority]
    notes = ["Features are unscaled (mean perimeter is about 90), as in the document.",
             f"Aligned: float64, the spec's glorot-uniform weights, the shared schedule (batch 100, {epochs} epochs); "
             "'agree' means the same test accuracy in every framework and final weights within the trajectory bound "
             "of the tolerance policy."]
    if one_class:
        notes.append(f"Cells whose aligned network ends predicting the majority class for every test row (test accuracy "
                     f"{majority:.3f}): {', '.join('n=' + k.replace('/', ', eta=') for k in one_class)}.")
    return {"grid": grid, "native_keras": native, "widths": widths, "etas": etas, "epochs": epochs, "seeds": seeds,
            "split": {"train": len(data.x_train), "test": len(data.x_test), "test_classes": np.bincount(data.labels_test).tolist()},
            "document": {"printed": None, "note": "The document plots the grids but prints no numbers."},
            "notes": notes, "figures": [figure]}


def _figure(ctx, widths, etas, native, grid):
    panels = [("Keras as written (mean of seeds)", lambda key, part: float(np.mean([r[f"{part}_accuracy"] for r in native[key]])))]
    for name in ctx.aligned:
        panels.append((f"{name} (aligned)", lambda key, part, name=name: grid[key]["aligned"][name][f"{part}_accuracy"]))
    fig, axes = plots.figure(ncols=len(panels), nrows=2, width=3.4, height=3.3)
    for r, part in enumerate(("train", "test")):
        for c, (title, value) in enumerate(panels):
            values = [[value(f"{n}/{eta:g}", part) for eta in etas] for n in widths]
            plots.heatmap(axes[r][c], values, widths, [f"{e:g}" for e in etas], f"{title}\n{part} accuracy", "eta", "neurons")
    return plots.save(fig, ctx.folder(NAME) / "breast_cancer_grid.png")


def markdown(r: dict) -> str:
    names = list(next(iter(r["grid"].values()))["aligned"])
    out = (f"Split {r['split']['train']} / {r['split']['test']} (test classes {r['split']['test_classes']}); "
           f"{r['epochs']} epochs; native Keras over seeds {r['seeds']}. {r['document']['note']}\n\n")
    out += "| neurons | eta | Keras as written: test accuracy (mean +- std over seeds) | " + " | ".join(f"{n} aligned" for n in names) + " | aligned agree |\n"
    out += "|" + "---|" * (len(names) + 4) + "\n"
    for key, cell in r["grid"].items():
        n, eta = key.split("/")
        acc = [x["test_accuracy"] for x in r["native_keras"][key]]
        out += (f"| {n} | {eta} | {np.mean(acc):.3f} +- {np.std(acc):.3f} | "
                + " | ".join(f"{cell['aligned'][k]['test_accuracy']:.3f}" for k in names)
                + f" | {'yes' if cell['agree'] else '**no**'} (weights within {max(cell['aligned'][k]['weight_gap'] for k in names):.0e}) |\n")
    out += "\n" + "\n".join(f"- {n}" for n in r["notes"]) + "\n"
    out += "".join(f"\n![{f}]({NAME}/{f})\n" for f in r["figures"])
    return out
