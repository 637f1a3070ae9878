"""Measure each catalogued divergence: the two sides natively, then aligned, on the same batches.

The gap is the max relative error between the two sides' output probabilities on the check batch
(the first 64 rows), after the first step and after the K-th (default 50): how far two ports of one
model land apart. An early-stopping topic trains until its rule stops instead: the gap between the two
sides' monitored values after the first epoch, then between their outputs at the end, with the epochs each ran. Aligned, the same two sides agree to rounding; natively, the table shows by how much
they do not, and which setting removes it.
"""
from __future__ import annotations

from dataclasses import dataclass

from nnparity.divergence_catalog import CATALOG, Topic
from reference.batches import BatchSchedule
from reference.checks import POOL_ROWS, collect, make_case  # noqa: F401  (collect runs in the implementations' processes)
from reference.checks.stopping import MONITORED
from reference.compare import compare


@dataclass
class Gap:
    before: float  # before any step (non-zero only when the starting weights differ)
    step1: float
    stepK: float
    error: str | None = None
    epochs: tuple[int, int] | None = None  # an early-stopping topic: the epochs each side ran


@dataclass
class Measured:
    topic: Topic
    native: Gap
    aligned: Gap


def _gap(a: dict, b: dict) -> Gap:
    rel = lambda key: compare("", a[key], b[key]).max_rel
    if MONITORED not in a:
        return Gap(rel("p0"), rel("p1"), rel("pK"))
    first = compare("", a[MONITORED][:1], b[MONITORED][:1]).max_rel
    return Gap(rel("p0"), first, rel("pK"), epochs=(len(a[MONITORED]), len(b[MONITORED])))


def measure(topic: Topic, impls: dict, steps: int) -> Measured:
    """``impls`` maps implementation names to running implementations (``registry.make``)."""
    gaps = []
    aligned_spec = topic.aligned_spec or topic.spec
    for native, spec_fn in ((topic.native, topic.spec), ((), aligned_spec)):
        cases = {side: _case(topic, side, native, spec_fn, aligned_spec, steps) for side in topic.sides}
        try:
            outs = [impls[side].collect(cases[side], topic.measured) for side in topic.sides]
            gaps.append(_gap(*outs))
        except Exception as exc:  # one topic's failure is reported in its row; the others still run
            gaps.append(Gap(float("nan"), float("nan"), float("nan"), f"{type(exc).__name__}: {exc}"))
        finally:
            for side in topic.sides:
                if hasattr(impls[side], "release"):
                    impls[side].release(cases[side])
    return Measured(topic, *gaps)


def _case(topic: Topic, side: str, native: tuple, spec_fn, aligned_spec, steps: int):
    # The numpy reference has no framework defaults: it is the convention the other side is measured against.
    # A side the topic keeps aligned runs the aligned spec with no native aspect.
    if side == "numpy" or (topic.native_sides is not None and side not in topic.native_sides):
        spec, native = aligned_spec(), ()
    else:
        spec = spec_fn()
    if topic.measured == "epoch-predictions":  # every epoch of the spec, at the side's own batch size
        steps = spec.training.epochs * BatchSchedule(POOL_ROWS, min(spec.training.batch_size, POOL_ROWS), 1, 0).steps_per_epoch
    return make_case(spec, topic.dtype, steps=steps, native=native)


def catalog(keys: list[str] | None = None) -> list[Topic]:
    """The topics named in ``keys`` (a topic's key, or a group's: ``data-parallel``), or every topic."""
    return [t for t in CATALOG if not keys or t.key in keys or (t.group and t.group in keys)]


def unknown_topics(keys: list[str]) -> list[str]:
    known = {t.key for t in CATALOG} | {t.group for t in CATALOG if t.group}
    return [k for k in keys if k not in known]
