"""``train`` (each framework's own training loop: torch's, Keras's compiled ``fit``, the reference's)
lands where the reference's step-by-step loop does. The reproductions and the benchmark train through
it, so its agreement is checked here on its own: 30 steps of a real digits network, in float64 and in
float32 (the benchmark's dtype, where Keras-on-torch compiles its update differently: see
keras_impl/implementation.py). Not digits_sigmoid50: its summed-gradient trajectory is chaotic,
rounding grows x3 per step."""
from functools import cache

import numpy as np
import pytest

from nnparity import registry
from reference import datasets
from reference import spec as S
from reference.batches import BatchSchedule
from reference.compare import compare
from reference.network import Network
from reference.tolerance import relative_step, trajectory_bounds
from reference.weights import init_weights

SPEC = "digits_sigmoid100_50"
STEPS = 30
DTYPES = ("float64", "float32")
# Float64: the parity matrix's 50-step trajectory bound for this spec is 8.6e-12 (reference/tolerance.py,
# rounding per step summed) and torch measures 6e-16; 1e-10 is the float64 bound for one step
# and 50 steps. Float32: the matrix's trajectory bound for float32 (S u sum_i (1 + r_i (sqrt(nB) 2L + kappa)),
# from the float64 reference's own steps r_i), against the float64 reference as the matrix compares.
FLOAT64_TOLERANCE = 1e-10


def train_remote(impl, arrays: dict, spec: dict, n_weights: int, batch_size: int) -> tuple[dict, dict]:
    from reference.implementation import train

    spec = S.from_dict(spec, "test")
    why = impl.supports(spec) if hasattr(impl, "supports") else None
    if why is not None:
        return {"declined": why}, {}
    order = arrays["order"]
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    out = {}
    for dtype in DTYPES:
        h = impl.build(spec, [arrays[f"w{i}"].astype(dtype) for i in range(n_weights)], dtype=dtype, device="cpu")
        weights = train(impl, h, arrays["x"].astype(dtype), arrays["y"], batches)
        out.update({f"{dtype}/w{i}": np.asarray(w) for i, w in enumerate(weights)})
    return {}, out


@cache
def _case():
    spec = S.load(SPEC)
    data = datasets.for_spec(spec, dtype=np.float64)
    b = spec.training.batch_size
    order = BatchSchedule(len(data.x_train), b, 1, spec.training.schedule_seed, True).order(0)[: STEPS * b]
    return spec, data, order, init_weights(spec)


@cache
def _reference() -> tuple[list[str], list[np.ndarray], list[float]]:
    """The float64 reference's weights after the steps, and each step's relative size r_i."""
    spec, data, order, weights = _case()
    b = spec.training.batch_size
    net, relative_steps = Network(spec, weights, dtype="float64"), []
    for i in range(0, len(order), b):
        before = net.weights()
        net.step(data.x_train[order[i:i + b]], data.y_train[order[i:i + b]])
        relative_steps.append(relative_step(net.params, before))  # as the matrix's trajectory check
    return net.names, net.weights(), relative_steps


def _bound(dtype: str) -> float:
    if dtype == "float64":
        return FLOAT64_TOLERANCE
    spec = _case()[0]
    return trajectory_bounds(spec, dtype, spec.training.batch_size, spec.optimizer, _reference()[2])[-1]


@cache
def _trained(name: str) -> dict | str:
    """Both dtypes' weights after ``train``, from one worker; or why the implementation cannot run."""
    spec, data, order, weights = _case()
    impl = registry.make(name)
    try:
        if impl.hello().get("available"):
            return impl.hello()["available"]
        arrays = {"x": data.x_train, "y": data.y_train, "order": order, **{f"w{i}": w for i, w in enumerate(weights)}}
        result, out = impl.call("parity_tests.test_train:train_remote", arrays, spec=S.to_dict(spec), n_weights=len(weights),
                                batch_size=spec.training.batch_size)
        return result.get("declined", out)
    finally:
        impl.close()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", registry.names())
def test_train_agrees_with_the_reference_step_by_step(name, dtype):
    out = _trained(name)
    if isinstance(out, str):
        pytest.skip(out)
    names, reference, _ = _reference()
    bound = _bound(dtype)
    worst = max(compare(n, out[f"{dtype}/w{i}"], w).max_rel for i, (n, w) in enumerate(zip(names, reference)))
    assert worst <= bound, f"{name}: {dtype} train() is {worst:.2e} from the reference after {STEPS} steps (bound {bound:.1e})"
