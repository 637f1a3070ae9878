"""What the reproductions run inside an implementation's own process (``Worker.call``): training.

``train_aligned`` trains one spec from the shared weights on the shared schedule, one epoch per
``train`` call, and evaluates after each epoch with the reference's forward pass (``evaluate.py``),
so every framework is measured the same way. ``keras_as_document`` is Keras exactly as a document
wrote it: its own initialisation, shuffling and ``fit`` defaults, seeded with ``set_random_seed``.
"""
from __future__ import annotations

import time

import numpy as np

from nnparity.studies.evaluate import evaluate
from reference import spec as S
from reference.implementation import train
from reference.weights import state_names


def _batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def train_aligned(impl, arrays: dict, spec: dict, dtype: str, epochs: int, batch_size: int, n_weights: int,
                  eval_every: int = 1) -> tuple[dict, dict]:
    """arrays: w0.., x_train, y_train, x_eval, y_eval, l_eval (a train-set monitor), x_test, y_test, l_test,
    order0.. (each epoch's row order). Evaluates after every ``eval_every`` epochs and the last (with the
    trained moving statistics, for a spec with batch normalization). Returns the metrics and the final
    weights (``final0..``) and state (``final_state0..``). Epochs between evaluations go to ``train`` in one call when every
    batch is full (then their batches are consecutive chunks of the joined orders, as fit cuts them)."""
    spec = S.from_dict(spec, "train_aligned")
    weights, state = [arrays[f"w{i}"] for i in range(n_weights)], None
    h = impl.build(spec, weights, dtype=dtype, device="cpu")
    has_state = bool(state_names(spec))
    curve, started, train_seconds = [], time.perf_counter(), 0.0
    n = len(arrays["order0"])
    per_epoch = -(-n // batch_size)  # where each epoch ends, for a per-epoch learning-rate schedule
    for e in range(0, epochs, eval_every):
        span = range(e, min(e + eval_every, epochs))
        t = time.perf_counter()
        if n % batch_size == 0:
            order = np.concatenate([arrays[f"order{k}"] for k in span])
            weights = train(impl, h, arrays["x_train"], arrays["y_train"], _batches(order, batch_size), spec, per_epoch)
        else:
            for k in span:
                weights = train(impl, h, arrays["x_train"], arrays["y_train"], _batches(arrays[f"order{k}"], batch_size), spec,
                                per_epoch)
        train_seconds += time.perf_counter() - t
        state = impl.state(h) if has_state else None
        metrics = {"epoch": span[-1] + 1}
        for part in ("eval", "test"):
            m = evaluate(spec, weights, arrays[f"x_{part}"], arrays[f"y_{part}"], arrays[f"l_{part}"], state=state)
            metrics.update({f"{'train' if part == 'eval' else 'test'}_{k}": v for k, v in m.items()})
        curve.append(metrics)
    result = {"curve": curve, "train_seconds": train_seconds, "seconds": time.perf_counter() - started}
    finals = {f"final{i}": np.asarray(w) for i, w in enumerate(weights)}
    return result, {**finals, **{f"final_state{i}": np.asarray(s) for i, s in enumerate(state or [])}}


def keras_as_document(impl, arrays: dict, layers: list[dict], loss: str, optimizer: str | dict, epochs: int,
                      batch_size: int | None, seed: int) -> tuple[dict, dict]:
    """A stock Keras model: ``layers`` as [{"units", "activation", "l2"}] (or {"type": "batch_norm"}: a
    ``BatchNormalization()`` with Keras's defaults), compiled with ``loss`` and
    ``optimizer`` ("sgd" or {"name": "SGD", "learning_rate": eta}), fit with Keras's defaults
    (``batch_size`` None is fit's 32, shuffling on), evaluated on the test set after every epoch."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape=(arrays["x_train"].shape[1],))] + [
        keras.layers.BatchNormalization() if l.get("type") == "batch_norm" else
        keras.layers.Dense(l["units"], activation=l["activation"],
                           kernel_regularizer=keras.regularizers.l2(l["l2"]) if l.get("l2") else None) for l in layers])
    opt = optimizer if isinstance(optimizer, str) else keras.optimizers.SGD(learning_rate=optimizer["learning_rate"])
    model.compile(loss=loss, optimizer=opt, metrics=["accuracy"])
    started = time.perf_counter()
    history = model.fit(arrays["x_train"], arrays["y_train"], epochs=epochs, batch_size=batch_size,
                        validation_data=(arrays["x_test"], arrays["y_test"]), verbose=0)
    seconds = time.perf_counter() - started
    test_loss, test_accuracy = model.evaluate(arrays["x_test"], arrays["y_test"], verbose=0)
    train_loss, train_accuracy = model.evaluate(arrays["x_train"], arrays["y_train"], verbose=0)
    hist = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    return {"seed": seed, "test_loss": float(test_loss), "test_accuracy": float(test_accuracy), "train_loss": float(train_loss),
            "train_accuracy": float(train_accuracy), "history": hist, "seconds": seconds}, {}


def forward(impl, arrays: dict, spec: dict, dtype: str, n_weights: int) -> tuple[dict, dict]:
    """The output activation on ``x`` of the spec holding ``w0..``."""
    spec = S.from_dict(spec, "forward")
    h = impl.build(spec, [arrays[f"w{i}"] for i in range(n_weights)], dtype=dtype, device="cpu")
    return {}, {"output": np.asarray(impl.forward(h, arrays["x"].astype(dtype)))}
