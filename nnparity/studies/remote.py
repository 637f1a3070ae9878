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


def fit_aligned(impl, arrays: dict, spec: dict, dtype: str, n_weights: int) -> tuple[dict, dict]:
    """An early-stopped run in the implementation's own loop (``fit``: Keras's ``EarlyStopping`` in ``model.fit``,
    torch's hand loop, the reference's rule): arrays w0.., x_train, y_train (the rows that train), x_val, y_val
    (the rows the rule watches), x_test, y_test, l_test, x_eval, y_eval, l_eval, order0.. (each epoch's row order
    over x_train). Returns the monitored value of every epoch run, the test and train metrics of the final (restored)
    weights, and those weights (``final0..``)."""
    spec = S.from_dict(spec, "fit_aligned")
    h = impl.build(spec, [arrays[f"w{i}"] for i in range(n_weights)], dtype=dtype, device="cpu")
    batch = spec.training.batch_size
    epochs = [_batches(arrays[f"order{e}"], batch) for e in range(spec.training.epochs)]
    started = time.perf_counter()
    weights, monitored = impl.fit(h, arrays["x_train"], arrays["y_train"], epochs, arrays["x_val"], arrays["y_val"])
    result = {"monitored": [float(v) for v in monitored], "epochs_run": len(monitored), "seconds": time.perf_counter() - started}
    for part in ("eval", "test"):
        m = evaluate(spec, weights, arrays[f"x_{part}"], arrays[f"y_{part}"], arrays[f"l_{part}"])
        result.update({f"{'train' if part == 'eval' else 'test'}_{k}": v for k, v in m.items()})
    return result, {f"final{i}": np.asarray(w) for i, w in enumerate(weights)}


def _optimizer(keras, optimizer: str | dict):
    """"sgd", or {"learning_rate": eta} (SGD at eta), or {"schedule": {"initial_learning_rate", "decay_steps",
    "decay_rate"}} (SGD on an ExponentialDecay, as a Keras user writes a decaying rate)."""
    if isinstance(optimizer, str):
        return optimizer
    if "schedule" in optimizer:
        return keras.optimizers.SGD(learning_rate=keras.optimizers.schedules.ExponentialDecay(**optimizer["schedule"]))
    return keras.optimizers.SGD(learning_rate=optimizer["learning_rate"])


def keras_as_document(impl, arrays: dict, layers: list[dict], loss: str, optimizer: str | dict, epochs: int,
                      batch_size: int | None, seed: int, early_stopping: dict | None = None) -> tuple[dict, dict]:
    """A stock Keras model: ``layers`` as [{"units", "activation", "l2"}] (or {"type": "batch_norm"}: a
    ``BatchNormalization()`` with Keras's defaults), compiled with ``loss`` and ``optimizer`` (``_optimizer``), fit
    with Keras's defaults (``batch_size`` None is fit's 32, shuffling on), evaluated on the test set after every
    epoch. With ``early_stopping`` ({"validation_split", "patience", "restore_best_weights"}): fit holds out its
    ``validation_split`` and ``EarlyStopping(monitor="val_loss", ...)`` watches it; the test accuracy is then read
    after each epoch by a callback (``history["test_accuracy"]``)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape=(arrays["x_train"].shape[1],))] + [
        keras.layers.BatchNormalization() if l.get("type") == "batch_norm" else
        keras.layers.Dense(l["units"], activation=l["activation"],
                           kernel_regularizer=keras.regularizers.l2(l["l2"]) if l.get("l2") else None) for l in layers])
    model.compile(loss=loss, optimizer=_optimizer(keras, optimizer), metrics=["accuracy"])
    started = time.perf_counter()
    if early_stopping is None:
        history = model.fit(arrays["x_train"], arrays["y_train"], epochs=epochs, batch_size=batch_size,
                            validation_data=(arrays["x_test"], arrays["y_test"]), verbose=0)
        stopped = {}
    else:
        per_epoch = []  # test accuracy of each epoch's weights, before any restoring (the callback only reads the model)
        test_curve = keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: per_epoch.append(_accuracy(model, arrays["x_test"], arrays["y_test"])))
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=early_stopping["patience"],
                                             restore_best_weights=early_stopping["restore_best_weights"])
        history = model.fit(arrays["x_train"], arrays["y_train"], epochs=epochs, batch_size=batch_size,
                            validation_split=early_stopping["validation_split"], callbacks=[test_curve, stop], verbose=0)
        history.history["test_accuracy"] = per_epoch
        stopped = {"epochs_run": len(history.history["loss"]), "best_epoch": int(stop.best_epoch) + 1}
    seconds = time.perf_counter() - started
    test_loss, test_accuracy = model.evaluate(arrays["x_test"], arrays["y_test"], verbose=0)
    train_loss, train_accuracy = model.evaluate(arrays["x_train"], arrays["y_train"], verbose=0)
    hist = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    return {"seed": seed, "test_loss": float(test_loss), "test_accuracy": float(test_accuracy), "train_loss": float(train_loss),
            "train_accuracy": float(train_accuracy), "history": hist, "seconds": seconds, **stopped}, {}


def _accuracy(model, x, y) -> float:
    return float(np.mean(np.argmax(model.predict(x, batch_size=2000, verbose=0), axis=1) == y))


def forward(impl, arrays: dict, spec: dict, dtype: str, n_weights: int) -> tuple[dict, dict]:
    """The output activation on ``x`` of the spec holding ``w0..``."""
    spec = S.from_dict(spec, "forward")
    h = impl.build(spec, [arrays[f"w{i}"] for i in range(n_weights)], dtype=dtype, device="cpu")
    return {}, {"output": np.asarray(impl.forward(h, arrays["x"].astype(dtype)))}


def sklearn_grid_row(impl, arrays: dict, eta: float, lambdas: list[float], hidden: int, epochs: int,
                     seed: int) -> tuple[dict, dict]:
    """Document 004's scikit-learn cell for one eta across ``lambdas``, as written:
    ``MLPClassifier(hidden_layer_sizes=(hidden), activation="logistic", alpha=lmbd, learning_rate_init=eta,
    max_iter=epochs)`` (every other argument its default: adam, batch min(200, n), its own shuffling and
    initialisation, here seeded with ``random_state=seed``), then ``fit(X_train, Y_train)``. Test accuracies."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    accuracies = []
    for lmbd in lambdas:
        dnn = MLPClassifier(hidden_layer_sizes=(hidden), activation="logistic", alpha=lmbd, learning_rate_init=eta,
                            max_iter=epochs, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached: the document's 100 epochs
            dnn.fit(arrays["x_train"], arrays["y_train"])
        accuracies.append(float(np.mean(dnn.predict(arrays["x_test"]) == arrays["y_test"])))
    return {"test_accuracy": accuracies}, {}


def keras_grid_row(impl, arrays: dict, eta: float, lambdas: list[float], hidden: int, epochs: int, batch_size: int,
                   seed: int) -> tuple[dict, dict]:
    """The same network in Keras, with scikit-learn's objective: Dense(hidden, sigmoid) -> Dense(10, softmax), the
    kernels' penalty alpha / (2 batch_size) (scikit-learn's 0.5 alpha sum W^2 / N at its batch of N rows),
    Adam(eta) with scikit-learn's epsilon 1e-8, batch_size rows, ``epochs``, Keras's own initialisation and
    shuffling seeded with ``seed``. Test accuracies."""
    import keras

    accuracies = []
    for lmbd in lambdas:
        keras.utils.set_random_seed(seed)
        reg = keras.regularizers.l2(lmbd / (2 * batch_size))
        model = keras.Sequential([keras.Input(shape=(arrays["x_train"].shape[1],)),
                                  keras.layers.Dense(hidden, activation="sigmoid", kernel_regularizer=reg),
                                  keras.layers.Dense(10, activation="softmax", kernel_regularizer=reg)])
        model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(eta, epsilon=1e-8))
        model.fit(arrays["x_train"], arrays["y_train"], epochs=epochs, batch_size=batch_size, verbose=0)
        accuracies.append(_accuracy(model, arrays["x_test"], arrays["y_test"]))
    return {"test_accuracy": accuracies}, {}
