"""The parity matrix as tests: one per spec x implementation x dtype x device x check.

Ids read like the CLI's cells: ``digits_sigmoid50-keras-jax-float32-step-adam``. Every cell the session
selected on one device is computed in one run of the matrix, the first time a test asks for one of them:
one run overlaps the reference's preparation of the next case with the implementations' work on this one,
as ``nnparity parity`` does (a run per case waited for its slowest implementation each time). CUDA cells
carry the ``gpu`` marker and skip cleanly without a GPU.
"""
from __future__ import annotations

import pytest

from nnparity import registry, report, runner
from reference import spec as S
from reference.checks import check_names

SPECS = S.bundled_names()
IMPLS = registry.names()
DTYPES = ["float64", "float32"]
CHECKS = {name: check_names(S.load(name)) for name in SPECS}  # forward-training and state where a layer needs them


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


class Matrix:
    """The cells of the session's selected tests, computed one device at a time by workers that live for the session."""

    def __init__(self, wanted: dict[str, set]):
        self.wanted = wanted  # device -> the (spec, dtype) groups the session's tests ask for
        self.cells: dict[str, runner.Outcome] = {}
        self.done: set[str] = set()
        self.pool: dict = {}

    def outcome(self, spec: str, impl: str, dtype: str, device: str, check: str) -> runner.Outcome:
        if device not in self.done:
            groups = self.wanted.get(device) or {(spec, dtype)}
            specs = [s for s in SPECS if any(g[0] == s for g in groups)]
            dtypes = [d for d in DTYPES if any(g[1] == d for g in groups)]
            sel = runner.Selection(specs, IMPLS, dtypes, [device], check_names())
            for o in runner.run(sel, registry.make, pool=self.pool):
                self.cells[o.id] = o
            self.done.add(device)
        return self.cells[runner.Outcome(spec, impl, dtype, device, check, "").id]


@pytest.fixture(scope="session")
def matrix(request):
    wanted: dict[str, set] = {}
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.module is not None and item.module.__name__ == __name__ and "device" in params:
            wanted.setdefault(params["device"], set()).add((params["spec"], params["dtype"]))
    if any(item.name == "test_float64_meets_the_issue_target_everywhere" for item in request.session.items):
        wanted.setdefault("cpu", set()).update((s, "float64") for s in SPECS)
    m = Matrix(wanted)
    yield m
    runner.close_pool(m.pool)


def _params(device: str):
    marks = [pytest.mark.gpu] if device == "cuda" else []
    return [pytest.param(s, i, d, device, c, id=runner.Outcome(s, i, d, device, c, "").id, marks=marks)
            for s in SPECS for d in DTYPES for i in IMPLS for c in CHECKS[s]]


# The bundled specs scikit-learn's MLP expresses (one hidden activation, a task's output and loss, a mean, one L2,
# SGD/momentum/Nesterov/Adam): every other spec is declined for it, each with the reason (test_sklearn.py).
SKLEARN_SPECS = {"digits_even_odd", "digits_sigmoid50_sklearn", "fashion_relu32_so", "fashion_relu500_300_100",
                 "fashion_sigmoid400", "gates_xor", "regression_sigmoid10"}
SKLEARN_OPTIMIZERS = {"step-sgd", "step-momentum", "step-nesterov", "step-adam"}


def expected_decline(spec: str, impl: str, dtype: str, check: str) -> str | None:
    """What a built-in implementation declines, and the reason it must give: the only cells that may not pass."""
    if impl == "sklearn":
        if spec not in SKLEARN_SPECS:
            return ""  # any reason: the spec itself is declined
        if check.startswith("step-") and check not in SKLEARN_OPTIMIZERS:
            return "scikit-learn"
        if check == "large-logits" and spec != "regression_sigmoid10":
            return "scikit-learn's log loss clips probabilities"
    if impl.startswith("keras-") and check.endswith("-torch") and "clipnorm" in check:
        return "Keras's clipnorm and global_clipnorm put no epsilon in the norm"
    if impl == "keras-torch" and dtype == "float64" and "clipnorm" in check:
        return "BIT64_TO_BIT32_DTYPE"
    if impl == "keras-torch" and dtype == "float64" and check == "early-stopping":
        return "early stopping in float64 on the torch backend"
    if impl == "keras-jax" and dtype == "float64" and check == "schedule-cosine-warmup-step":
        return "cosine_decay in float64 on the jax backend"
    return None


def _assert_cell(matrix: Matrix, spec, impl, dtype, device, check):
    o = matrix.outcome(spec, impl, dtype, device, check)
    if o.status == "skip":
        pytest.skip(o.message)
    declined = expected_decline(spec, impl, dtype, check)
    if declined is not None:
        assert o.status == "unsupported" and o.message and declined in o.message, report.explain(o)
        return
    assert o.status == "pass", report.explain(o)
    assert o.max_rel is not None and o.max_rel <= o.tol


@pytest.mark.parametrize("spec, impl, dtype, device, check", _params("cpu"))
def test_parity_cpu(matrix, spec, impl, dtype, device, check):
    _assert_cell(matrix, spec, impl, dtype, device, check)


@pytest.mark.parametrize("spec, impl, dtype, device, check", _params("cuda"))
def test_parity_cuda(matrix, spec, impl, dtype, device, check):
    if not _cuda_available():
        pytest.skip("no CUDA device here")
    _assert_cell(matrix, spec, impl, dtype, device, check)


def test_float64_meets_the_issue_target_everywhere(matrix):
    """Every aligned float64 cell on the CPU within 1e-10 (chaotic trajectories excepted: see tolerance.py)."""
    worst = []
    for spec in SPECS:
        for impl in IMPLS:
            for check in CHECKS[spec]:
                o = matrix.outcome(spec, impl, "float64", "cpu", check)
                if o.status == "pass" and not (check == "trajectory" and o.horizon is not None):
                    worst.append((o.max_rel, o.id))
    assert max(worst)[0] <= 1e-10, max(worst)
