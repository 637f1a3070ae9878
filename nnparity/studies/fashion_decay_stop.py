"""Fashion-MNIST's 500-300-100 relu network as a Keras user improves it (issue 14): SGD on an exponentially
decaying rate and early stopping on a validation split, over several seeds as written, next to the document's
constant-rate runs; and the same early-stopped run aligned in every framework, each in its own loop (Keras's
``EarlyStopping`` in ``model.fit``, torch's hand loop, the reference's rule).

The spec (``specs/fashion_relu500_300_100_decay_stop.toml``, beside this module) is a study's, not the parity
matrix's: the matrix checks the same network (``fashion_relu500_300_100``), schedules (``coverage_training``)
and early stopping (``coverage_softmax_half_sse``) on smaller cases.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from nnparity.studies import aligned, plots
from nnparity.studies.context import Context
from reference import datasets
from reference import spec as S
from reference.weights import init_weights

KEY = "relu500_300_100_decay_stop"
SPEC = Path(__file__).parent / "specs" / "fashion_relu500_300_100_decay_stop.toml"
CONSTANT = "relu500_300_100"  # the document's constant-rate model, whose runs these stand next to


def spec(ctx: Context) -> S.Spec:
    """The study's spec; ``--quick`` trains one epoch at most, as the study's other models do."""
    s = S.load(str(SPEC))
    if ctx.quick:
        s = dataclasses.replace(s, training=dataclasses.replace(s.training, epochs=1))
    return s


def keras_arguments(s: S.Spec) -> dict:
    """What a Keras user writes for the spec: the optimizer's schedule and fit's early stopping."""
    schedule, rule = s.optimizer.schedule.params, s.training.early_stopping
    return {"optimizer": {"schedule": {k: schedule[k] for k in ("initial_learning_rate", "decay_steps", "decay_rate")}},
            "early_stopping": {"validation_split": rule.validation_split, "patience": rule.patience,
                               "restore_best_weights": rule.restore_best_weights}}


def aligned_runs(ctx: Context, n_train: int, n_test: int) -> dict:
    s = spec(ctx)
    data = datasets.for_spec(s, dtype=np.float64, train_rows=n_train)
    data = datasets.Data(data.x_train, data.y_train, data.x_test[:n_test], data.y_test[:n_test], data.labels_train,
                         data.labels_test[:n_test], data.n_classes)
    return aligned.stopped(ctx, s, data, init_weights(s), f"fashion {KEY}")


def final_accuracy(m: dict, framework: str) -> float:
    """A model's aligned test accuracy at the end (restored weights, for this one)."""
    run = m["aligned"][framework]
    return run["test_accuracy"] if "monitored" in run else run["curve"][-1]["test_accuracy"]


def summary(models: dict) -> dict:
    """The band as written against the document's number and the constant-rate band."""
    m, constant = models[KEY], models[CONSTANT]
    band, doc = m["native"]["test_accuracy"], m["document"]["test_accuracy"]
    return {"band_above_document": band["min"] > doc, "mean_above_document": band["mean"] > doc,
            "mean_minus_constant_mean": band["mean"] - constant["native"]["test_accuracy"]["mean"],
            "epochs_run": [r["epochs_run"] for r in m["native"]["runs"]],
            "best_epochs": [r["best_epoch"] for r in m["native"]["runs"]]}


def figure(ctx: Context, models: dict) -> str:
    """Left: each run's validation loss, the value early stopping watches. Right: test accuracy per epoch as
    written, decaying and stopped next to the constant rate, the aligned runs' final (restored) accuracy."""
    m, constant = models[KEY], models[CONSTANT]
    fig, axes = plots.figure(ncols=2, width=5.2, height=3.8)
    loss_ax, acc_ax = axes[0]
    grey = plots.COLORS["keras (native)"]
    for i, r in enumerate(m["native"]["runs"]):
        h = r["history"]
        x = np.arange(1, len(h["val_loss"]) + 1)
        loss_ax.plot(x, h["val_loss"], color=grey, linewidth=1, label="Keras as written (seeds)" if i == 0 else None)
        acc_ax.plot(x, h["test_accuracy"], color=grey, linewidth=1, label="decay + early stopping (seeds)" if i == 0 else None)
        acc_ax.plot([r["best_epoch"]], [r["test_accuracy"]], marker="o", ms=4, color=grey, linestyle="")
    hist = np.asarray([r["history"]["val_accuracy"] for r in constant["native"]["runs"]])
    xc = np.arange(1, hist.shape[1] + 1)
    acc_ax.fill_between(xc, hist.min(0), hist.max(0), color="#ff7f0e", alpha=0.25, label="constant 0.01 (seeds)")
    for name in ctx.aligned:
        run = m["aligned"][name]
        loss_ax.plot(np.arange(1, len(run["monitored"]) + 1), run["monitored"], color=plots.COLORS[name],
                     linestyle=["-", "--", ":"][ctx.aligned.index(name) % 3], label=f"{name} (aligned)")
        acc_ax.plot([run["epochs_run"]], [run["test_accuracy"]], marker="^", ms=7, color=plots.COLORS[name], linestyle="",
                    label=f"{name} (aligned, restored)")
    acc_ax.axhline(m["document"]["test_accuracy"], color="black", linewidth=0.8, linestyle="--", label="document (0.8804)")
    loss_ax.set(xlabel="epoch", ylabel="validation loss (last 10% of the training rows)", title="what EarlyStopping watches")
    acc_ax.set(xlabel="epoch", ylabel="test accuracy", title="ExponentialDecay + EarlyStopping vs constant rate")
    loss_ax.legend(fontsize=7)
    acc_ax.legend(fontsize=7, loc="lower right")
    return plots.save(fig, ctx.folder("fashion-mnist") / "fashion_decay_stop.png")


def markdown(models: dict, s: dict) -> str:
    m = models[KEY]
    band, doc = m["native"]["test_accuracy"], m["document"]["test_accuracy"]
    frameworks = [n for n in m["aligned"] if n not in ("weight_gaps", "dtype")]
    out = (f"\n**{KEY}** (decaying rate, early stopping): as written {band['mean']:.4f} +- {band['std']:.4f} "
           f"({band['min']:.4f} - {band['max']:.4f}) against the document's {doc} at a constant rate; the band is "
           f"{'above' if s['band_above_document'] else 'not above'} it, and its mean "
           f"{s['mean_minus_constant_mean']:+.4f} from the constant-rate runs'. Epochs run per seed {s['epochs_run']} "
           f"(best {s['best_epochs']}). Aligned: "
           + ", ".join(f"{n} {m['aligned'][n]['test_accuracy']:.4f} after {m['aligned'][n]['epochs_run']} epochs "
                       f"(final weights {m['aligned']['weight_gaps'][n]:.1e} from {frameworks[0]})" for n in frameworks)
           + ".\n")
    return out
