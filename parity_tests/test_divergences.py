"""``nnparity divergences``: each native default opens a gap, and its aligned setting closes it."""
from __future__ import annotations

import json

import pytest

from nnparity import registry
from nnparity.cli import main
from nnparity.divergences import catalog, measure


@pytest.fixture(scope="module")
def impls():
    pool: dict = {}
    yield pool
    for impl in pool.values():
        impl.close()


# (topic, steps, smallest native gap after K steps that shows the effect): every topic with a quick network.
QUICK = [("adam-epsilon", 10, 1e-6), ("rmsprop-defaults", 5, 1e-2), ("adagrad-defaults", 5, 1e-2),
         ("sgd-default-lr", 5, 1e-3), ("leaky-relu-slope", 2, 1e-2), ("default-init", 2, 1e-2),
         ("weight-decay", 10, 1e-3), ("momentum-schedule", 10, 1e-3), ("bce-probabilities", 5, 1e-3),
         ("softplus-threshold", 2, 1e-13), ("keras-float64-torch", 2, 1e-9), ("keras-float64-tensorflow", 5, 1e-9),
         ("keras-float64-jax", 5, 1e-10), ("batch-norm-momentum", 5, 1e-2), ("batch-norm-epsilon", 5, 1e-3),
         ("batch-norm-variance", 5, 1e-5), ("weight-decay-norm", 5, 1e-4), ("layer-norm-epsilon", 5, 1e-3),
         ("dropout-generators", 5, 1e-2), ("clipnorm-per-tensor", 5, 1e-3), ("clip-grad-norm-epsilon", 5, 1e-8),
         ("schedule-per-epoch", 10, 1e-4), ("weighted-mean", 5, 1e-4), ("early-stopping-restore", 1, 1e-2),
         ("early-stopping-monitor", 1, 1e-2), ("sklearn-sgd-momentum", 5, 1e-2), ("sklearn-adam-epsilon", 10, 1e-6),
         ("sklearn-alpha", 10, 1e-3), ("sklearn-init", 2, 1e-1), ("sklearn-squared-loss", 5, 1e-2),
         ("sklearn-log-loss-clip", 1, 1e-2), ("sklearn-batch-size", 1, 1e-1), ("ddp-local-mean", 5, 1e-4),
         ("ddp-summed-loss", 5, 1e-2), ("ddp-sampler-padding", 1, 1e-3), ("keras-tf-local-mean", 5, 1e-4),
         ("keras-tf-replica-l2", 5, 1e-5), ("keras-tf-replica-clip", 5, 1e-2), ("replica-batch-stats", 5, 1e-3)]  # the batch size's, the sampler's: epochs


@pytest.mark.parametrize("key, steps, native_floor", QUICK, ids=[q[0] for q in QUICK])
def test_native_gap_opens_and_aligned_closes_it(impls, key, steps, native_floor):
    (topic,) = catalog([key])
    for side in topic.sides:
        impls.setdefault(side, registry.make(side))
    m = measure(topic, impls, steps)
    assert m.native.error is None and m.aligned.error is None, (m.native.error, m.aligned.error)
    assert m.native.stepK >= native_floor
    assert max(m.aligned.before, m.aligned.step1, m.aligned.stepK) <= 1e-12
    assert m.native.stepK > 100 * m.aligned.stepK


def test_every_topic_names_its_sides_settings_and_fix():
    for t in catalog():
        assert all(side in registry.names() or registry.is_replicated(side) for side in t.sides), t.key
        # a default left on (a native aspect), or a spec the native side is given (its batch size, its inputs)
        assert (t.native or t.aligned_spec is not None) and all(t.defaults) and t.aligned


def test_command_writes_the_topics_json(tmp_path):
    """The command end to end, JSON included: the native aspects are written by name."""
    out = tmp_path / "divergences.json"
    assert main(["divergences", "--topic", "batch-norm-epsilon", "--steps", "2", "--json", str(out)]) == 0
    (topic,) = json.loads(out.read_text())["topics"]
    assert topic["native"] == ["batch-norm-epsilon"]
    assert topic["native_gap"]["stepK"] > 1e-3 > 1e-12 > topic["aligned_gap"]["stepK"]
