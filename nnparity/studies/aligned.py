"""Aligned runs for the studies: one spec, the same starting weights and batch order, in every framework.

The schedule is the reference's (``BatchSchedule``) unless a study passes its own row orders (the
digits replay's ``np.random.choice`` batches). Each framework trains in its own process
(``remote.train_aligned``); all are evaluated with the reference's forward pass.
"""
from __future__ import annotations

import numpy as np

from nnparity.studies.context import Context
from reference import spec as S
from reference.batches import BatchSchedule
from reference.compare import compare
from reference.datasets import Data
from reference.early_stopping import split


def run(ctx: Context, spec: S.Spec, data: Data, weights, epochs: int, label: str, orders=None, dtype=None,
        eval_rows: int = 10_000, eval_every: int = 1, frameworks: list[str] | None = None) -> dict:
    """{framework: {"curve", "seconds", ...}, "weight_gaps": {framework: max rel. gap of the final weights (and
    state) to the first framework's}}, in ``frameworks`` (default: the study's)."""
    dtype = dtype or ctx.dtype
    cast = lambda a: a.astype(dtype) if a.dtype.kind == "f" else a
    if orders is None:
        sched = BatchSchedule(len(data.x_train), spec.training.batch_size, epochs, spec.training.schedule_seed, spec.training.shuffle)
        orders = [sched.order(e) for e in range(epochs)]
    arrays = {"x_train": cast(data.x_train), "y_train": cast(data.y_train), **_evaluated(data, weights, dtype, eval_rows),
              **{f"order{e}": np.asarray(o) for e, o in enumerate(orders)}}
    return _each(ctx, label, "train_aligned", arrays, frameworks or ctx.aligned, spec=S.to_dict(spec), dtype=dtype,
                 epochs=epochs, batch_size=spec.training.batch_size, n_weights=len(weights), eval_every=eval_every)


def stopped(ctx: Context, spec: S.Spec, data: Data, weights, label: str, dtype=None, eval_rows: int = 10_000) -> dict:
    """The spec's early-stopped run (``remote.fit_aligned``) in every framework: the last ``validation_split`` of the
    training rows held out, as Keras's ``fit(validation_split=...)`` holds them, the rest on the shared schedule.
    {framework: {"monitored", "epochs_run", "test_accuracy", ...}, "weight_gaps": ...}."""
    dtype = dtype or ctx.dtype
    cast = lambda a: a.astype(dtype) if a.dtype.kind == "f" else a
    n = split(len(data.x_train), spec.training.early_stopping)
    sched = BatchSchedule(n, spec.training.batch_size, spec.training.epochs, spec.training.schedule_seed, spec.training.shuffle)
    arrays = {"x_train": cast(data.x_train[:n]), "y_train": cast(data.y_train[:n]),
              "x_val": cast(data.x_train[n:]), "y_val": cast(data.y_train[n:]), **_evaluated(data, weights, dtype, eval_rows),
              **{f"order{e}": sched.order(e) for e in range(spec.training.epochs)}}
    return _each(ctx, label, "fit_aligned", arrays, ctx.aligned, spec=S.to_dict(spec), dtype=dtype, n_weights=len(weights))


def _evaluated(data: Data, weights, dtype: str, eval_rows: int) -> dict:
    """What every aligned run is given besides its training rows: the starting weights, the train-set monitor's
    first ``eval_rows`` rows and the test set (evaluated in float64 by the reference's forward pass)."""
    return {"x_eval": data.x_train[:eval_rows], "y_eval": data.y_train[:eval_rows], "l_eval": data.labels_train[:eval_rows],
            "x_test": data.x_test, "y_test": data.y_test, "l_test": data.labels_test,
            **{f"w{i}": np.asarray(w, dtype=dtype) for i, w in enumerate(weights)}}


def _each(ctx: Context, label: str, function: str, arrays: dict, frameworks: list[str], **kw) -> dict:
    """``remote.<function>(arrays, **kw)`` in every aligned framework at once, and how far each one's final weights
    land from the first's."""
    with ctx.task(f"{label}: aligned runs", len(frameworks)) as advance:
        def one(name):
            with ctx.timed(f"{label} aligned {name}"):
                result = ctx.impl(name).call(f"nnparity.studies.remote:{function}", arrays, **kw)
            advance()
            return result

        runs = ctx.parallel({name: (lambda name=name: one(name)) for name in frameworks})
    out = {name: result for name, (result, _) in runs.items()}
    # The final weights, and the moving statistics after them (batch normalization), compared as one list.
    finals = {name: [arrays_out[f"final{i}"] for i in range(kw["n_weights"])]
              + [arrays_out[f"final_state{i}"] for i in range(sum(k.startswith("final_state") for k in arrays_out))]
              for name, (_, arrays_out) in runs.items()}
    base = finals[frameworks[0]]
    out["weight_gaps"] = {name: max(compare("", a, b).max_rel for a, b in zip(ws, base)) for name, ws in finals.items()}
    out["dtype"] = kw["dtype"]
    return out


def final(result: dict, framework: str, key: str):
    return result[framework]["curve"][-1].get(key)
