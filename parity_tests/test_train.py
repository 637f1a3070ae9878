"""``train`` (each framework's own training loop: torch's, Keras's compiled ``fit``, the reference's)
lands where the reference's step-by-step loop does. The reproductions and the benchmark train through
it, so its agreement is checked here on its own: 30 steps of a real digits network in float64.
(Not digits_sigmoid50: its summed-gradient trajectory is chaotic, rounding grows x3 per step.)"""
import numpy as np
import pytest

from nnparity import registry
from reference import datasets
from reference import spec as S
from reference.batches import BatchSchedule
from reference.compare import compare
from reference.network import Network
from reference.weights import init_weights

SPEC = "digits_sigmoid100_50"
STEPS = 30
# Float64, 30 SGD steps of the 64-100-50-10 network: the parity matrix's 50-step trajectory bound for
# this spec is 8.6e-12 (reference/tolerance.py, rounding per step summed) and torch measures 6e-16;
# 1e-10 is the float64 bound for one step and 50 steps.
TOLERANCE = 1e-10


def train_remote(impl, arrays: dict, spec: dict, n_weights: int, batch_size: int) -> tuple[dict, dict]:
    from reference.implementation import train

    spec = S.from_dict(spec, "test")
    h = impl.build(spec, [arrays[f"w{i}"] for i in range(n_weights)], dtype="float64", device="cpu")
    order = arrays["order"]
    weights = train(impl, h, arrays["x"], arrays["y"], [order[i:i + batch_size] for i in range(0, len(order), batch_size)])
    return {}, {f"w{i}": np.asarray(w) for i, w in enumerate(weights)}


@pytest.mark.parametrize("name", registry.names())
def test_train_agrees_with_the_reference_step_by_step(name):
    spec = S.load(SPEC)
    data = datasets.for_spec(spec, dtype=np.float64)
    b = spec.training.batch_size
    order = BatchSchedule(len(data.x_train), b, 1, spec.training.schedule_seed, True).order(0)[: STEPS * b]
    weights = init_weights(spec)
    net = Network(spec, weights, dtype="float64")
    for i in range(0, len(order), b):
        net.step(data.x_train[order[i:i + b]], data.y_train[order[i:i + b]])
    impl = registry.make(name)
    try:
        if impl.hello().get("available"):
            pytest.skip(impl.hello()["available"])
        arrays = {"x": data.x_train, "y": data.y_train, "order": order, **{f"w{i}": w for i, w in enumerate(weights)}}
        _, out = impl.call("parity_tests.test_train:train_remote", arrays, spec=S.to_dict(spec), n_weights=len(weights), batch_size=b)
    finally:
        impl.close()
    worst = max(compare(n, out[f"w{i}"], w).max_rel for i, (n, w) in enumerate(zip(net.names, net.params)))
    assert worst <= TOLERANCE, f"{name}: train() is {worst:.2e} from the reference after {STEPS} steps"
