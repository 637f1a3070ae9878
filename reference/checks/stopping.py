"""``early-stopping``: the spec's early-stopped training (``reference/early_stopping.py``) on the pool, in the
implementation's own training loop (``fit``: Keras's ``EarlyStopping`` callback in ``model.fit``, torch's loop),
against the reference's. The pool's last rows validate (the spec's ``validation_split``), the rest train on the
shared schedule, for the spec's epochs (at most ``MAX_EPOCHS``). ``stopped-predictions`` is the same run for
``nnparity divergences``.

Judged per epoch, on the implementation's own answers:

* its monitored ``val_loss`` after every epoch it ran, against the reference's;
* where it stopped: where Keras's rule, replayed on its own monitored values, stops (the mechanism: patience,
  min_delta, the first epoch never stopping), and where the reference stopped — unless one of the reference's
  decisions was within the monitored value's tolerance of going the other way, where a correct implementation
  may decide differently and the check compares the epochs both ran;
* the final weights (restored from the best epoch where ``restore_best_weights``), in full.

Tolerances: the reference's own sensitivity, S times the separation of a reference run that rounds differently
(``Judge.shadow``'s construction), and at least the trajectory formula with every step taken as large as the
weights (:math:`r_i = 1`): :math:`S u K (1 + \\sqrt{nB}\\,2L + \\kappa + \\gamma + \\sigma)` after K steps.
"""
from __future__ import annotations

import numpy as np

from reference import tolerance as T
from reference.batches import BatchSchedule
from reference.checks import calls
from reference.checks import keys as K
from reference.checks.base import Check
from reference.checks.result import CheckResult, backward_order
from reference.compare import TensorDiff, compare, compare_scalar
from reference.early_stopping import Stopper, split

MAX_EPOCHS = 30
MONITORED = "monitored"


def epochs(case) -> tuple[int, list[list[np.ndarray]]]:
    """(training rows, each epoch's batches over them), from the shared schedule's rule."""
    spec = case.spec
    n = split(len(case.pool_x), spec.training.early_stopping)
    sched = BatchSchedule(n, min(spec.training.batch_size, n), min(spec.training.epochs, MAX_EPOCHS), spec.training.schedule_seed,
                          spec.training.shuffle)
    out: list[list[np.ndarray]] = [[] for _ in range(sched.epochs)]
    for batch in sched:
        out[batch.epoch].append(batch.indices)
    return n, out


def fit(impl, case):
    """The implementation's early-stopped run on the pool: (its handle, final weights, monitored values)."""
    n, batches = epochs(case)
    h = calls.build(impl, case)
    weights, monitored = impl.fit(h, case.pool_x[:n], case.pool_y[:n], batches, case.pool_x[n:], case.pool_y[n:])
    return h, weights, np.asarray(monitored, dtype=np.float64)


class EarlyStopped(Check):
    name = "early-stopping"
    stops_early = True

    def applies(self, spec):
        return spec.training.early_stopping is not None

    def ask(self, impl, case):
        _, weights, monitored = fit(impl, case)
        return {MONITORED: monitored, **{K.final(K.weight(name)): w for name, w in zip(case.names, weights)}}

    def _shadow(self, judge) -> dict:
        """The reference's answers from a run that rounds differently (``Judge.shadow_case``)."""
        from reference.implementation import NumpyImplementation

        return judge.cached("early-stopping-shadow", lambda: self.ask(NumpyImplementation(), judge.shadow_case()))

    def _floor(self, judge, steps: int) -> float:
        c = judge.case
        u = T.UNIT_ROUNDOFF[c.dtype]
        root_nb, L = T.shape_factors(c.spec, c.spec.training.batch_size)
        return T.SAFETY * u * steps * (1 + root_nb * 2 * L + T.update_condition(c.spec.optimizer, c.spec, steps, 1))

    def _tolerances(self, judge) -> tuple[list[float], float]:
        """(per epoch, the monitored value's; the final weights')."""
        ref, shadow, c = judge.reference(self.name), self._shadow(judge), judge.case
        _, batches = epochs(c)
        steps = np.cumsum([len(b) for b in batches])
        mon_ref, mon_shadow = ref[MONITORED], shadow[MONITORED]
        tols = []
        for e, v in enumerate(mon_ref):
            sep = abs(mon_shadow[e] - v) / max(abs(v), 1e-300) if e < len(mon_shadow) else 0.0
            tols.append(max(T.SAFETY * sep, self._floor(judge, int(steps[e]))))
        names = c.names
        sep_w = max((compare(n, shadow[K.final(K.weight(n))], ref[K.final(K.weight(n))]).max_rel for n in names), default=0.0)
        return tols, max(T.SAFETY * sep_w, self._floor(judge, int(steps[len(mon_ref) - 1])))

    def judge(self, judge, answers):
        ref, c = judge.reference(self.name), judge.case
        rule, planned = c.spec.training.early_stopping, len(epochs(c)[1])
        got = np.asarray(answers.get(MONITORED, []), dtype=np.float64).reshape(-1)
        expected = ref[MONITORED]
        tols = judge.tolerance(self.name)[1][:-1]  # per epoch (a golden folder's, where it is read from one)
        out: list[list[TensorDiff]] = [[compare_scalar(f"val_loss after epoch {e + 1}", got[e], float(expected[e]))]
                                       for e in range(min(len(got), len(expected)))]
        # The mechanism first: where Keras's rule, replayed on the implementation's own values, stops.
        own_stop, ran, problem = replay(rule, got).stopped_epoch, len(got), None
        if own_stop is not None and own_stop != ran - 1 or own_stop is None and ran < planned:
            where = "did not stop" if own_stop is None else f"stops after epoch {own_stop + 1}"
            problem = f"ran {ran} epochs, but the early-stopping rule on its own val_loss {where}"
        elif ran != len(expected):
            margins = replay(rule, expected).margins
            if all(abs(m) > t * abs(v) for m, t, v in zip(margins, tols, expected)):  # no decision within rounding
                problem = (f"stopped after epoch {ran}, the reference after epoch {len(expected)}"
                           + ("" if len(expected) < planned else " (it did not stop)"))
        if problem is not None:
            out.append([TensorDiff("the stopping epoch", np.inf, np.inf, None, problem)])
        elif ran == len(expected):
            final = [compare(f"{n} (final, in full)", answers.get(K.final(K.weight(n))), ref[K.final(K.weight(n))], c.dtype)
                     for n in c.names]
            out.append(backward_order(c.names, final))
        return CheckResult(self.name, out)

    def tolerance(self, judge):
        tols, tol_w = self._tolerances(judge)
        per_row = tols[: len(judge.reference(self.name)[MONITORED])] + [tol_w]
        return max(per_row), per_row


class StoppedPredictions(Check):
    """Not a parity check: the output on the check batch before and after the early-stopped run, and the monitored
    values, for ``nnparity divergences``."""

    name = "stopped-predictions"
    parity, stops_early = False, True

    def applies(self, spec):
        return spec.training.early_stopping is not None

    def ask(self, impl, case):
        p0 = calls.forward(impl, calls.build(impl, case), case.spec, case.x)
        h, _, monitored = fit(impl, case)
        return {"p0": p0, MONITORED: monitored, "pK": calls.forward(impl, h, case.spec, case.x)}


def replay(rule, values) -> Stopper:
    """The rule run over a sequence of monitored values, stopping where it says (its ``stopped_epoch``, ``margins``)."""
    stopper = Stopper(rule)
    for e, v in enumerate(values):
        if stopper.after_epoch(e, float(v), lambda: None):
            break
    return stopper
