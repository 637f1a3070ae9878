"""Fashion-MNIST (document 001): its two Keras models and its NumPy network, each run as the document
wrote it (several seeds: a band around the document's number) and aligned in every framework; and the deeper
model with a decaying rate and early stopping (``fashion_decay_stop.py``)."""
from __future__ import annotations

import numpy as np

from nnparity.studies import aligned, document_code, fashion_decay_stop, plots
from nnparity.studies.context import Context
from reference import datasets, fashion_mnist
from reference import spec as S
from reference.weights import init_weights

NAME = "fashion-mnist"
TITLE = "Fashion-MNIST: document 001's Keras and NumPy models"

MODELS = {
    "sigmoid400": {"spec": "fashion_sigmoid400", "document": {"test_loss": 0.6182, "test_accuracy": 0.7798, "epochs": 3},
                   "layers": [{"units": 400, "activation": "sigmoid"}, {"units": 10, "activation": "softmax"}]},
    "relu500_300_100": {"spec": "fashion_relu500_300_100", "document": {"test_loss": 0.3340, "test_accuracy": 0.8804, "epochs": 15},
                        "layers": [{"units": 500, "activation": "relu"}, {"units": 300, "activation": "relu"},
                                   {"units": 100, "activation": "relu"}, {"units": 10, "activation": "softmax"}]},
    "numpy400": {"spec": "fashion_sigmoid400_numpy", "document": {"test_accuracy": 0.8242, "epochs": 3}, "layers": None},
}
STOPPED = fashion_decay_stop.KEY  # the document's deeper model at a decaying rate, stopped early: not the document's code
MODELS[STOPPED] = {"spec": fashion_decay_stop.SPEC.stem, "document": {"test_accuracy": 0.8804, "epochs": 15},
                   "layers": MODELS["relu500_300_100"]["layers"]}
QUICK_ROWS = (2000, 1000)  # --quick: the first training and test images


def _stats(values) -> dict:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max())}


def _native_keras(ctx, model, arrays, epochs, seeds):
    runs = []
    how = fashion_decay_stop.keras_arguments(fashion_decay_stop.spec(ctx)) if model == STOPPED else {"optimizer": "sgd"}
    with ctx.task(f"fashion {model}: Keras as the document wrote it", len(seeds)) as advance:
        for seed in seeds:
            with ctx.timed(f"fashion {model} native keras-tensorflow"):
                result, _ = ctx.impl("keras-tensorflow", lane="native").call(
                    "nnparity.studies.remote:keras_as_document", arrays, layers=MODELS[model]["layers"],
                    loss="sparse_categorical_crossentropy", epochs=epochs, batch_size=None, seed=seed, **how)
            runs.append(result)
            advance()
    return {"kind": "keras-tensorflow model.fit, as the document wrote it", "runs": runs,
            "test_accuracy": _stats([r["test_accuracy"] for r in runs]), "test_loss": _stats([r["test_loss"] for r in runs])}


def _native_numpy(ctx, spec, epochs, seeds, rows):
    data = datasets.for_spec(spec, dtype=np.float64, train_rows=rows[0] if rows else None)
    x_test, y_test = (data.x_test[: rows[1]], data.y_test[: rows[1]]) if rows else (data.x_test, data.y_test)
    runs = []
    with ctx.task("fashion numpy400: the document's NumPy loop", len(seeds) * epochs) as advance:
        for seed in seeds:
            with ctx.timed("fashion numpy400 native numpy"):
                runs.append(document_code.fashion_numpy(data.x_train, data.y_train, x_test, y_test, seed, epochs=epochs,
                                                        on_epoch=lambda e: advance()))
    return {"kind": "the document's NumPy loop (np.random.normal weights, per-sample SGD)", "runs": runs,
            "test_accuracy": _stats([r["test_accuracy"] for r in runs])}


def _aligned(ctx, model, n_train, n_test) -> dict:
    info = MODELS[model]
    spec = S.load(info["spec"])
    data = datasets.for_spec(spec, dtype=np.float64, train_rows=n_train)
    data = datasets.Data(data.x_train, data.y_train, data.x_test[:n_test], data.y_test[:n_test], data.labels_train,
                         data.labels_test[:n_test], data.n_classes)
    return aligned.run(ctx, spec, data, init_weights(spec), _epochs(ctx, model), f"fashion {model}")


def _epochs(ctx, model) -> int:
    return 1 if ctx.quick else MODELS[model]["document"]["epochs"]


def run(ctx: Context) -> dict:
    """The native Keras runs (the longest part) train in a worker of their own while this thread runs
    the document's NumPy loop and then the aligned runs (``Context.parallel``)."""
    seeds = list(range(ctx.seeds))
    rows = QUICK_ROWS if ctx.quick else None
    f = fashion_mnist.load()
    n_train, n_test = rows or (len(f.x_train), len(f.x_test))
    keras_arrays = {"x_train": (f.x_train[:n_train] / 255.0).astype(np.float32), "y_train": f.y_train[:n_train].astype(np.int64),
                    "x_test": (f.x_test[:n_test] / 255.0).astype(np.float32), "y_test": f.y_test[:n_test].astype(np.int64)}
    keras_models = [m for m, info in MODELS.items() if info["layers"] is not None]

    def native_keras():
        return {m: _native_keras(ctx, m, keras_arrays, _epochs(ctx, m), seeds) for m in keras_models}

    def numpy_then_aligned():
        native = {"numpy400": _native_numpy(ctx, S.load(MODELS["numpy400"]["spec"]), _epochs(ctx, "numpy400"), seeds, rows)}
        return native, {m: fashion_decay_stop.aligned_runs(ctx, n_train, n_test) if m == STOPPED else
                        _aligned(ctx, m, n_train, n_test) for m in MODELS}

    done = ctx.parallel({"keras": native_keras, "rest": numpy_then_aligned})
    natives = {**done["keras"], **done["rest"][0]}
    models = {}
    for model, info in MODELS.items():
        native, doc = natives[model], info["document"]
        in_band = {k: native[k]["min"] <= doc[k] <= native[k]["max"] for k in ("test_accuracy", "test_loss") if k in doc and k in native}
        models[model] = {"spec": info["spec"], "epochs": _epochs(ctx, model), "document": doc, "native": native,
                         "document_in_band": in_band, "aligned": done["rest"][1][model]}
    figures = [_curves(ctx, models), _finals(ctx, models), fashion_decay_stop.figure(ctx, models)]
    return {"models": models, "seeds": seeds, "rows": {"train": n_train, "test": n_test}, "figures": figures,
            "decay_stop": fashion_decay_stop.summary(models),
            "notes": ["The band is the min-max over seeds of the native runs; Keras draws its own initial weights and "
                      "shuffles with each seed, the NumPy loop draws W and V from np.random.RandomState(seed).",
                      f"Aligned runs start from the spec's weights (seed 0 of the reference's generator) and take the "
                      f"shared batch schedule, in {ctx.dtype}; every framework is evaluated with the reference's forward pass.",
                      "The document's first Keras log shows 'Epoch 1/3'..'Epoch 3/3' although the cell calls fit() "
                      "without epochs (Keras's default is 1): the runs here take 3 epochs, as the log shows.",
                      f"{STOPPED} is not in the document: its relu500_300_100 on SGD(ExponentialDecay(0.05, 1688, 0.8)) "
                      "with EarlyStopping(patience=3, restore_best_weights=True) on validation_split=0.1, at most 15 "
                      "epochs; its test accuracy is the restored (best validation loss) epoch's. Aligned, each framework "
                      "early-stops in its own loop from the spec's weights on the shared schedule over the first 90% of the "
                      "training rows (54,000 of 60,000)."]}


def _curves(ctx, models) -> str:
    models = {k: m for k, m in models.items() if k != STOPPED}  # its curves are fashion_decay_stop's figure
    fig, axes = plots.figure(ncols=len(models), width=4.6, height=3.6)
    for ax, (model, m) in zip(axes[0], models.items()):
        for name in ctx.aligned:
            c = m["aligned"][name]["curve"]
            ax.plot([p["epoch"] for p in c], [p["test_accuracy"] for p in c], marker="o", ms=3, label=f"{name} (aligned)",
                    color=plots.COLORS[name], linestyle=["-", "--", ":"][ctx.aligned.index(name) % 3])
        hist = [r["history"]["val_accuracy"] for r in m["native"]["runs"] if "history" in r]
        if hist:
            h = np.asarray(hist)
            x = np.arange(1, h.shape[1] + 1)
            ax.fill_between(x, h.min(0), h.max(0), color=plots.COLORS["keras (native)"], alpha=0.25, label="Keras as written (seeds)")
            ax.plot(x, h.mean(0), color=plots.COLORS["keras (native)"], linewidth=1)
        else:
            acc = [r["test_accuracy"] for r in m["native"]["runs"]]
            ax.errorbar([m["epochs"]], [np.mean(acc)], yerr=[[np.mean(acc) - min(acc)], [max(acc) - np.mean(acc)]],
                        fmt="s", color=plots.COLORS["keras (native)"], label="document's code (seeds)")
        ax.plot([m["epochs"]], [m["document"]["test_accuracy"]], marker="*", ms=14, color="black", linestyle="", label="document")
        ax.set_title(f"{model} ({m['spec']})", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy")
    axes[0][0].legend(fontsize=7, loc="lower right")
    return plots.save(fig, ctx.folder(NAME) / "fashion_curves.png")


def _finals(ctx, models) -> str:
    fig, axes = plots.figure(width=6.5, height=3.6)
    ax = axes[0][0]
    for i, m in enumerate(models.values()):
        acc = [r["test_accuracy"] for r in m["native"]["runs"]]
        ax.scatter([i - 0.2] * len(acc), acc, color=plots.COLORS["keras (native)"], s=18, label="as written (seeds)" if i == 0 else None)
        for k, name in enumerate(ctx.aligned):
            ax.scatter([i + 0.05 * k], [fashion_decay_stop.final_accuracy(m, name)], color=plots.COLORS[name], marker="^", s=30,
                       label=f"{name} (aligned)" if i == 0 else None)
        ax.scatter([i + 0.25], [m["document"]["test_accuracy"]], marker="*", s=120, color="black", label="document" if i == 0 else None)
    ax.set_xticks(range(len(models)), list(models))
    ax.set_ylabel("final test accuracy")
    ax.legend(fontsize=7)
    return plots.save(fig, ctx.folder(NAME) / "fashion_final_accuracy.png")


def markdown(r: dict) -> str:
    out = (f"Training rows {r['rows']['train']}, test rows {r['rows']['test']}; seeds {r['seeds']}.\n\n"
           "| model | epochs | document | as written: mean +- std (min - max) | document in band | "
           + " | ".join(f"{n} aligned" for n in next(iter(r["models"].values()))["aligned"] if n not in ("weight_gaps", "dtype")) + " |\n")
    names = [n for n in next(iter(r["models"].values()))["aligned"] if n not in ("weight_gaps", "dtype")]
    out += "|" + "---|" * (5 + len(names)) + "\n"
    for model, m in r["models"].items():
        if model == STOPPED:
            continue  # its own paragraph below
        for metric in ("test_accuracy", "test_loss"):
            if metric not in m["document"] or metric not in m["native"]:
                continue
            s = m["native"][metric]
            al = " | ".join(f"{m['aligned'][n]['curve'][-1][metric.replace('test_', 'test_')]:.4f}" for n in names)
            out += (f"| {model} {metric.replace('test_', '')} | {m['epochs']} | {m['document'][metric]} | {s['mean']:.4f} +- {s['std']:.4f} "
                    f"({s['min']:.4f} - {s['max']:.4f}) | {'yes' if m['document_in_band'][metric] else 'no'} | {al} |\n")
    out += fashion_decay_stop.markdown(r["models"], r["decay_stop"])
    out += "\n" + "\n".join(f"- {n}" for n in r["notes"]) + "\n"
    out += "".join(f"\n![{f}]({NAME}/{f})\n" for f in r["figures"])
    return out
