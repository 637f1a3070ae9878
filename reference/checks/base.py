"""A check is one object: which specs it applies to, what it asks of an implementation (``ask``, run in the
implementation's process), the reference's answers (``reference``: the reference asked the same, on the
float64 case, with each answer's operand scale), how answers are judged (``judge``), its tolerance, and the
file golden folders keep its reference answers in (``golden_file``)."""
from __future__ import annotations

import numpy as np

from reference.checks import keys as K
from reference.checks.result import CheckResult
from reference.compare import TensorDiff, compare, compare_scalar


class Check:
    name = ""
    shares = None  # the name of the check whose reference answers this one reads (grads reads loss's)
    parity = True  # False: a measurement for another command (nnparity divergences), never a cell of the matrix
    stops_early = False  # it trains with the spec's early stopping (every other check trains a fixed number of steps)
    needs_replicas = False  # run only over data-parallel replicas (nnparity parity --replicas N)

    @property
    def golden_file(self) -> str:
        return f"expected-{self.shares or self.name}.npz"

    def applies(self, spec) -> bool:
        return True

    def ask(self, impl, case) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def reference(self, judge) -> dict[str, np.ndarray]:
        """The reference's answers (computed once per case by the Judge, or read from a golden folder)."""
        return self.ask(judge.ref, judge.ref_case)

    def judge(self, judge, answers: dict) -> CheckResult:
        raise NotImplementedError

    def tolerance(self, judge) -> tuple[float, list[float]]:
        raise NotImplementedError


def compared(judge, ref: dict, name: str, key: str, answers: dict) -> TensorDiff:
    """The implementation's ``key`` against the reference's, judged against that answer's operand scale."""
    actual = answers.get(key)
    if key == K.LOSS:
        return compare_scalar(name, actual, float(ref[K.LOSS]), ref.get(K.scale(K.LOSS)))
    return compare(name, actual, ref[key], judge.case.dtype, ref.get(K.scale(key)))
