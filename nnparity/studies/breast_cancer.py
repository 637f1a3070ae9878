"""Breast cancer with Keras (document 004): the hidden-width x learning-rate grid, natively in Keras as
the document wrote it (several seeds) and aligned in every framework from the same weights — and the same
grid with a BatchNormalization after each hidden Dense layer, document 004's remedy, to measure whether it
rescues the cells that end predicting the majority class on these unscaled features."""
from __future__ import annotations

import dataclasses

import numpy as np

from nnparity.studies import aligned, plots, sensitivity
from nnparity.studies.context import Context
from reference import datasets, tolerance
from reference import spec as S
from reference.weights import init_weights

NAME = "breast-cancer"
TITLE = "Breast cancer: 2 x Dense(n, relu, l2 0.01), the width x learning-rate grid, without and with BatchNormalization (document 004)"
WIDTHS, ETAS = [1, 10, 100, 1000], [1e-3, 1e-2, 1e-1]
VARIANTS = {"plain": "breast_cancer_relu10", "batch_norm": "breast_cancer_relu10_bn"}  # grid name -> base spec


def _spec(n: int, eta: float, epochs: int, variant: str = "plain") -> S.Spec:
    base = S.load(VARIANTS[variant])
    hidden = len(base.layers) - 1
    layers = tuple(dataclasses.replace(l, units=n) if l.type == "dense" and i < hidden else l for i, l in enumerate(base.layers))
    return S.validate(dataclasses.replace(base, name=f"{base.name}_n{n}_eta{eta:g}", layers=layers,
                                          optimizer=S.Optimizer("sgd", {"learning_rate": eta}),
                                          training=dataclasses.replace(base.training, epochs=epochs)))


def weight_bound(spec: S.Spec, data, epochs: int, replicas: int = 1) -> tuple[float, float, bool]:
    """(bound, the reference's own separation, chaotic) for the final weights of a float64 run of ``epochs``: the
    trajectory bound with every step at full relative size (r = 1), an upper bound of rounding alone (over
    ``replicas``, the all-reduce's term included); and, as the parity trajectory's, at least S times the reference's
    own separation from one rounding away (chaotic where that is the larger)."""
    steps = epochs * int(np.ceil(len(data.x_train) / spec.training.batch_size))
    formula = tolerance.trajectory_bounds(spec, "float64", spec.training.batch_size, spec.optimizer, [1.0] * steps,
                                          replicas=replicas)[-1]
    own = sensitivity.separation(spec, data, init_weights(spec), epochs)
    return max(formula, tolerance.SAFETY * own), own, bool(tolerance.SAFETY * own > formula)


def _aligned_cell(ctx: Context, data, n: int, eta: float, epochs: int, variant: str) -> dict:
    spec = _spec(n, eta, epochs, variant)
    res = aligned.run(ctx, spec, data, init_weights(spec), epochs, f"breast cancer {variant} n={n} eta={eta:g}", dtype="float64",
                      eval_rows=len(data.x_train), eval_every=epochs)
    bound, own, chaotic = weight_bound(spec, data, epochs)
    names = [k for k in res if k not in ("weight_gaps", "dtype")]
    accs = {k: res[k]["curve"][-1]["test_accuracy"] for k in names}
    within = all(not (g > bound) for g in res["weight_gaps"].values())
    return {"aligned": {k: {"test_accuracy": accs[k], "train_accuracy": res[k]["curve"][-1]["train_accuracy"],
                            "weight_gap": res["weight_gaps"][k]} for k in names},
            "weight_bound": bound, "reference_separation": own, "chaotic": bool(chaotic),
            # where the reference itself lands O(1) away from one rounding, the accuracies may differ too
            "agree": within and (chaotic or len(set(accs.values())) == 1)}


def _keras_layers(n: int, variant: str) -> list[dict]:
    hidden = {"units": n, "activation": "relu", "l2": 0.01}
    block = [hidden, {"type": "batch_norm"}] if variant == "batch_norm" else [hidden]
    return block * 2 + [{"units": 2, "activation": "softmax"}]


def run(ctx: Context) -> dict:
    widths, etas = ([1, 10], [1e-2]) if ctx.quick else (WIDTHS, ETAS)
    epochs = 5 if ctx.quick else 100
    seeds = list(range(ctx.seeds))
    data = datasets.for_spec(S.load("breast_cancer_relu10"), dtype=np.float64)
    arrays = {"x_train": data.x_train.astype(np.float32), "y_train": data.y_train.astype(np.float32),
              "x_test": data.x_test.astype(np.float32), "y_test": data.y_test.astype(np.float32)}
    cells = [(variant, n, eta) for variant in VARIANTS for n in widths for eta in etas]

    def native_grid():
        native = {v: {} for v in VARIANTS}
        with ctx.task("breast cancer: Keras as the document wrote it", len(cells) * len(seeds)) as advance:
            for variant, n, eta in cells:
                runs = []
                for seed in seeds:
                    with ctx.timed("breast-cancer native keras-tensorflow"):
                        result, _ = ctx.impl("keras-tensorflow", lane="native").call(
                            "nnparity.studies.remote:keras_as_document", arrays, layers=_keras_layers(n, variant),
                            loss="categorical_crossentropy", optimizer={"learning_rate": eta}, epochs=epochs, batch_size=100,
                            seed=seed)
                    runs.append({k: result[k] for k in ("seed", "test_accuracy", "train_accuracy", "test_loss", "seconds")})
                    advance()
                native[variant][f"{n}/{eta:g}"] = runs
        return native

    def aligned_grid():
        grids = {v: {} for v in VARIANTS}
        for variant, n, eta in cells:
            grids[variant][f"{n}/{eta:g}"] = _aligned_cell(ctx, data, n, eta, epochs, variant)
        return grids

    # The native runs train in a worker of their own beside the aligned ones (Context.parallel).
    done = ctx.parallel({"native": native_grid, "aligned": aligned_grid})
    native, grids = done["native"], done["aligned"]
    majority = float(np.bincount(data.labels_test).max() / len(data.labels_test))
    figures = [_figure(ctx, widths, etas, native["plain"], grids["plain"]),
               _figure_batch_norm(ctx, widths, etas, native, grids)]
    # A network that predicts one class for every test row scores the majority's share or the minority's (Keras
    # reports it in float32: within half a row of it).
    single = lambda acc: min(abs(acc - majority), abs(acc - (1 - majority))) < 0.5 / len(data.labels_test)
    one_class = {v: {"aligned": [k for k, cell in grids[v].items() if single(cell["aligned"]["numpy"]["test_accuracy"])],
                     "keras_as_written": [k for k, runs in native[v].items()
                                          if sum(single(r["test_accuracy"]) for r in runs) * 2 > len(runs)]}
                 for v in VARIANTS}
    notes = ["Features are unscaled (mean perimeter is about 90), as in the document.",
             f"Aligned: float64, the spec's glorot-uniform weights, the shared schedule (batch 100, {epochs} epochs); "
             "'agree' means the same test accuracy in every framework and final weights (and moving statistics) within "
             "the trajectory bound of the tolerance policy.",
             "Chaotic: the float64 reference started one rounding away ends farther from itself than the rounding "
             "bound allows (reference_separation); there the frameworks are judged against 16 times that separation, "
             "as the parity trajectory is, and their accuracies may differ.",
             "batch_norm: a BatchNormalization (Keras's defaults: momentum 0.99, epsilon 1e-3) after each hidden Dense "
             "layer; evaluated in inference mode, with the moving statistics each framework trained."]
    for v in VARIANTS:
        for how, keys in one_class[v].items():
            notes.append(f"{v}, {how.replace('_', ' ')}: {len(keys)} of {len(grids[v])} cells end predicting one class for "
                         f"every test row (test accuracy {majority:.3f} or {1 - majority:.3f}"
                         f"{'; in most seeds' if how == 'keras_as_written' else ''})"
                         + (f": {', '.join('n=' + k.replace('/', ', eta=') for k in keys)}." if keys else "."))
    return {"grid": grids["plain"], "native_keras": native["plain"], "grid_batch_norm": grids["batch_norm"],
            "native_keras_batch_norm": native["batch_norm"], "majority_class": one_class, "majority_accuracy": majority,
            "widths": widths, "etas": etas, "epochs": epochs, "seeds": seeds,
            "split": {"train": len(data.x_train), "test": len(data.x_test), "test_classes": np.bincount(data.labels_test).tolist()},
            "document": {"printed": None, "note": "The document plots the grids but prints no numbers."},
            "notes": notes, "figures": figures}


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


def _figure_batch_norm(ctx, widths, etas, native, grids):
    """Test accuracy without and with BatchNormalization, side by side: Keras as written (mean of seeds), aligned."""
    fig, axes = plots.figure(ncols=2, nrows=2, width=3.4, height=3.3)
    for c, variant in enumerate(VARIANTS):
        label = "plain" if variant == "plain" else "with BatchNormalization"
        rows = [("Keras as written (mean of seeds)",
                 lambda key, v=variant: float(np.mean([r["test_accuracy"] for r in native[v][key]]))),
                ("aligned (numpy)", lambda key, v=variant: grids[v][key]["aligned"]["numpy"]["test_accuracy"])]
        for r, (title, value) in enumerate(rows):
            values = [[value(f"{n}/{eta:g}") for eta in etas] for n in widths]
            plots.heatmap(axes[r][c], values, widths, [f"{e:g}" for e in etas], f"{label}: {title}\ntest accuracy", "eta", "neurons")
    return plots.save(fig, ctx.folder(NAME) / "breast_cancer_batch_norm_grid.png")


def _agreement(cell: dict, names: list[str]) -> str:
    gap = max(cell["aligned"][k]["weight_gap"] for k in names)
    verdict = "yes" if cell["agree"] else "**no**"
    if cell.get("chaotic"):
        return f"{verdict}, chaotic (weights within {gap:.0e}; the reference from one rounding away: {cell['reference_separation']:.0e})"
    return f"{verdict} (weights within {gap:.0e})"


def _grid_table(grid: dict, native: dict) -> str:
    names = list(next(iter(grid.values()))["aligned"])
    out = "| neurons | eta | Keras as written: test accuracy (mean +- std over seeds) | " + " | ".join(f"{n} aligned" for n in names) + " | aligned agree |\n"
    out += "|" + "---|" * (len(names) + 4) + "\n"
    for key, cell in grid.items():
        n, eta = key.split("/")
        acc = [x["test_accuracy"] for x in native[key]]
        out += (f"| {n} | {eta} | {np.mean(acc):.3f} +- {np.std(acc):.3f} | "
                + " | ".join(f"{cell['aligned'][k]['test_accuracy']:.3f}" for k in names)
                + f" | {_agreement(cell, names)} |\n")
    return out


def markdown(r: dict) -> str:
    out = (f"Split {r['split']['train']} / {r['split']['test']} (test classes {r['split']['test_classes']}); "
           f"{r['epochs']} epochs; native Keras over seeds {r['seeds']}. {r['document']['note']}\n\n")
    out += _grid_table(r["grid"], r["native_keras"])
    out += "\nWith a BatchNormalization after each hidden Dense layer:\n\n" + _grid_table(r["grid_batch_norm"], r["native_keras_batch_norm"])
    out += "\n" + "\n".join(f"- {n}" for n in r["notes"]) + "\n"
    out += "".join(f"\n![{f}]({NAME}/{f})\n" for f in r["figures"])
    return out
