"""The documents' own code, replayed: their formulas and their random-number call order, exactly.

These are not the reference (which computes stably, from logits, with its own seeded generator);
they are what the documents ran, so that their printed numbers can be reproduced bit for bit where
the arithmetic allows. Legacy ``numpy.random`` is used as they used it, through a ``RandomState``
with the document's seed (the same stream as ``np.random.seed``, without touching global state).
"""
from __future__ import annotations

import math

import numpy as np


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# Matrix products with different, equally correct summation orders. A chaotic training (the digits
# notebook's) ends somewhere else for each, which shows how far its printed numbers can be trusted.
SUMMATION_ORDERS = {
    "blas": np.matmul,
    "einsum": lambda a, b: np.einsum("ij,jk->ik", a, b),
    "reversed": lambda a, b: a[:, ::-1] @ b[::-1],
    "pairwise": lambda a, b: (a[:, :, None] * b[None, :, :]).sum(axis=1),
    "split": lambda a, b: a[:, : a.shape[1] // 2] @ b[: a.shape[1] // 2] + a[:, a.shape[1] // 2:] @ b[a.shape[1] // 2:],
}


def _softmax_unshifted(z):
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# ---- document 001: the Fashion-MNIST NumPy network -------------------------------------------------

def fashion_numpy(x_train, y_train_onehot, x_test, y_test_onehot, seed: int, epochs: int = 3, hidden: int = 400,
                  lr: float = 0.01, on_epoch=None) -> dict:
    """``W = normal(size=(785, C)); V = normal(size=(C, K))``, then per-sample SGD over the rows in file
    order, ``epochs`` times; the accuracy as the document computes it (``floor(Z / max Z)`` and
    scikit-learn's ``accuracy_score`` on the indicator rows)."""
    from sklearn.metrics import accuracy_score

    rng = np.random.RandomState(seed)
    W = rng.normal(size=(x_train.shape[1], hidden))
    V = rng.normal(size=(hidden, y_train_onehot.shape[1]))
    sums = []
    with np.errstate(over="ignore"):
        for epoch in range(epochs):
            for i in range(len(x_train)):
                X_r = x_train[i].reshape((1, -1))
                Y_r = y_train_onehot[i]
                S = _sigmoid(X_r.dot(W))
                Z = _softmax_unshifted(S.dot(V))
                gradients_W = X_r.T.dot(((Z - Y_r).dot(V.T)) * S * (1 - S))
                gradients_V = S.T.dot(Z - Y_r)
                W -= lr * gradients_W
                V -= lr * gradients_V
            sums.append({"epoch": epoch, "W_sum": float(W.sum()), "V_sum": float(V.sum())})
            if on_epoch:
                on_epoch(epoch)
        S = _sigmoid(x_test.dot(W))
        Z = _softmax_unshifted(S.dot(V))
        Z = np.floor(Z / np.max(Z, axis=1)[:, None])
    return {"seed": seed, "test_accuracy": float(accuracy_score(y_test_onehot, Z)), "epochs": sums}


# ---- document 004: the digits notebook (chapter 10 / week 42) --------------------------------------

class NeuralNetwork:
    """The notebook's class: sigmoid hidden layer, unshifted softmax, gradients summed over the batch,
    ``+ lmbd * W`` on the weights, batches drawn with ``np.random.choice(replace=False)``."""

    def __init__(self, rng, X_data, Y_data, n_hidden_neurons=50, n_categories=10, epochs=10, batch_size=100, eta=0.1, lmbd=0.0,
                 matmul=np.matmul):
        self.rng, self.matmul = rng, matmul
        self.X_data_full, self.Y_data_full = X_data, Y_data
        self.n_inputs, self.n_features = X_data.shape
        self.n_hidden_neurons, self.n_categories = n_hidden_neurons, n_categories
        self.epochs, self.batch_size = epochs, batch_size
        self.iterations = self.n_inputs // self.batch_size
        self.eta, self.lmbd = eta, lmbd
        self.hidden_weights = rng.randn(self.n_features, self.n_hidden_neurons)
        self.hidden_bias = np.zeros(self.n_hidden_neurons) + 0.01
        self.output_weights = rng.randn(self.n_hidden_neurons, self.n_categories)
        self.output_bias = np.zeros(self.n_categories) + 0.01
        self.initial = [self.hidden_weights.copy(), self.hidden_bias.copy(), self.output_weights.copy(), self.output_bias.copy()]
        self.batches: list[np.ndarray] = []

    def feed_forward(self):
        self.z_h = self.matmul(self.X_data, self.hidden_weights) + self.hidden_bias
        self.a_h = _sigmoid(self.z_h)
        self.z_o = self.matmul(self.a_h, self.output_weights) + self.output_bias
        self.probabilities = _softmax_unshifted(self.z_o)

    def feed_forward_out(self, X):
        a_h = _sigmoid(self.matmul(X, self.hidden_weights) + self.hidden_bias)
        return _softmax_unshifted(self.matmul(a_h, self.output_weights) + self.output_bias)

    def backpropagation(self):
        error_output = self.probabilities - self.Y_data
        error_hidden = self.matmul(error_output, self.output_weights.T) * self.a_h * (1 - self.a_h)
        self.output_weights_gradient = self.matmul(self.a_h.T, error_output)
        self.output_bias_gradient = np.sum(error_output, axis=0)
        self.hidden_weights_gradient = self.matmul(self.X_data.T, error_hidden)
        self.hidden_bias_gradient = np.sum(error_hidden, axis=0)
        if self.lmbd > 0.0:
            self.output_weights_gradient += self.lmbd * self.output_weights
            self.hidden_weights_gradient += self.lmbd * self.hidden_weights
        self.output_weights -= self.eta * self.output_weights_gradient
        self.output_bias -= self.eta * self.output_bias_gradient
        self.hidden_weights -= self.eta * self.hidden_weights_gradient
        self.hidden_bias -= self.eta * self.hidden_bias_gradient

    def predict(self, X):
        return np.argmax(self.feed_forward_out(X), axis=1)

    def train(self):
        data_indices = np.arange(self.n_inputs)
        for _ in range(self.epochs):
            for _ in range(self.iterations):
                chosen = self.rng.choice(data_indices, size=self.batch_size, replace=False)
                self.batches.append(chosen)
                self.X_data, self.Y_data = self.X_data_full[chosen], self.Y_data_full[chosen]
                self.feed_forward()
                self.backpropagation()


def digits_notebook(grid: bool = True, on_cell=None, matmul=np.matmul) -> dict:
    """The notebook's cells in order: seed(0), a 5-image display draw, the split, the untrained network,
    its 1000 full-batch steps, the single run (eta = lmbd = 0.01) and the 7 x 7 grid. ``matmul`` is the
    product every cell uses (``SUMMATION_ORDERS``)."""
    from sklearn import datasets
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split

    rng = np.random.RandomState(0)
    digits = datasets.load_digits()
    inputs, labels = digits.images.reshape(len(digits.images), -1), digits.target
    rng.choice(np.arange(len(inputs)), size=5)  # the display cell's random_indices
    # train_test_split draws from numpy's global generator: it gets ours, positioned where the notebook's was.
    X_train, X_test, Y_train, Y_test = train_test_split(inputs, labels, train_size=0.8, test_size=0.2, random_state=rng)
    onehot = np.zeros((len(Y_train), 10))
    onehot[np.arange(len(Y_train)), Y_train] = 1
    out = {"n_train": len(X_train), "n_test": len(X_test)}

    with np.errstate(over="ignore", invalid="ignore"):
        hw, hb = rng.randn(64, 50), np.zeros(50) + 0.01
        ow, ob = rng.randn(50, 10), np.zeros(10) + 0.01

        def forward(X):
            a_h = _sigmoid(matmul(X, hw) + hb)
            return a_h, _softmax_unshifted(matmul(a_h, ow) + ob)

        probabilities = forward(X_train)[1]
        out["untrained_image0"] = probabilities[0].tolist()
        out["untrained_prediction0"], out["label0"] = int(np.argmax(probabilities[0])), int(Y_train[0])
        out["old_accuracy"] = float(accuracy_score(np.argmax(probabilities, axis=1), Y_train))
        for _ in range(1000):
            a_h, p = forward(X_train)
            error_output = p - onehot
            error_hidden = matmul(error_output, ow.T) * a_h * (1 - a_h)
            dWo, dBo = matmul(a_h.T, error_output), np.sum(error_output, axis=0)
            dWh, dBh = matmul(X_train.T, error_hidden), np.sum(error_hidden, axis=0)
            dWo += 0.01 * ow
            dWh += 0.01 * hw
            ow -= 0.01 * dWo
            ob -= 0.01 * dBo
            hw -= 0.01 * dWh
            hb -= 0.01 * dBh
        out["new_accuracy"] = float(accuracy_score(np.argmax(forward(X_train)[1], axis=1), Y_train))

        single = NeuralNetwork(rng, X_train, onehot, eta=0.01, lmbd=0.01, epochs=100, batch_size=100, matmul=matmul)
        single.train()
        out["single_accuracy"] = float(accuracy_score(Y_test, single.predict(X_test)))
        out["single"] = single  # its initial weights and batches, for the aligned runs (not serialised)
        if grid:
            etas, lmbds = np.logspace(-5, 1, 7), np.logspace(-5, 1, 7)
            cells, overflowed = np.zeros((7, 7)), np.zeros((7, 7), dtype=bool)
            for i, eta in enumerate(etas):
                for j, lmbd in enumerate(lmbds):
                    dnn = NeuralNetwork(rng, X_train, onehot, eta=eta, lmbd=lmbd, epochs=100, batch_size=100, matmul=matmul)
                    dnn.train()
                    cells[i, j] = accuracy_score(Y_test, dnn.predict(X_test))
                    overflowed[i, j] = not np.isfinite(dnn.feed_forward_out(X_test)).all()
                    if on_cell:
                        on_cell()
            out["grid"], out["grid_overflowed"] = cells.tolist(), overflowed.tolist()
    out["data"] = (X_train, X_test, Y_train, Y_test, onehot)
    return out


# ---- document 004: the gates' first forward pass -----------------------------------------------------

def gates_forward() -> dict:
    """``np.random.seed(0)``, then ``randn(2, 2)`` hidden and ``randn(2, 1)`` output weights, biases 0.01:
    the first forward pass on the XOR inputs."""
    rng = np.random.RandomState(0)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    hidden_weights, hidden_bias = rng.randn(2, 2), np.zeros(2) + 0.01
    output_weights, output_bias = rng.randn(2, 1), np.zeros(1) + 0.01
    a_h = _sigmoid(np.matmul(X, hidden_weights) + hidden_bias)
    probabilities = _sigmoid(np.matmul(a_h, output_weights) + output_bias)
    return {"probabilities": probabilities[:, 0].tolist(), "weights": [hidden_weights, hidden_bias, output_weights, output_bias]}


# ---- document 000: the even/odd forward pass -----------------------------------------------------------

def _sigmoid_math_e(z):
    return 1 / (1 + math.e ** (-z))  # the document's sigmoid, written with math.e


def even_odd_forward() -> dict:
    """The document's cells: one neuron, then four (``np.random.seed(42)`` before each draw), and the
    output neuron fed the hidden layer's pre-activation z_1 (not a_1), thresholded at 0.5."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.data
    w_1 = np.random.RandomState(42).uniform(-.1, .1, 64).reshape(-1, 1)
    z_single = w_1.T.dot(images.T) + 0
    a_single = _sigmoid_math_e(z_single)
    w_1 = np.random.RandomState(42).uniform(-.1, .1, (64, 4))
    b_1 = np.zeros((4, 1))
    z_1 = w_1.T.dot(images.T) + b_1
    a_1 = _sigmoid_math_e(z_1 + b_1)
    w_2 = np.random.RandomState(42).uniform(-.1, .1, (4, 1))
    z_2 = w_2.T.dot(z_1)
    a_2 = _sigmoid_math_e(z_2 + 0)
    y_hat = (a_2 > .5).astype(int)
    corrected = (_sigmoid_math_e(w_2.T.dot(a_1)) > .5).astype(int)
    y_true = (digits.target % 2 == 0).astype(int)
    return {"w_1_single_first10": np.random.RandomState(42).uniform(-.1, .1, 64)[:10].tolist(),
            "z_single_ends": z_single[0, [0, 1, 2, -3, -2, -1]].tolist(), "a_single_ends": a_single[0, [0, 1, 2, -3, -2, -1]].tolist(),
            "a_1_ends": a_1[:, [0, 1, 2, -3, -2, -1]].tolist(), "y_hat_sum": int(y_hat.sum()),
            "corrected_y_hat_sum": int(corrected.sum()), "corrected_accuracy": float(np.mean(corrected[0] == y_true)),
            "weights": [w_1, w_2], "images": images, "y_true": y_true}
