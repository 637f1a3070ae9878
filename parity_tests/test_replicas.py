"""Data-parallel parity (reference/replicas.py): torch over N replicas, started by torch's own launcher, against the
single-process reference on the global batch; the split of a batch; data-parallel mistakes caught where they are;
and no replica process outliving its run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nnparity import registry, runner
from nnparity.cli import main
from reference import replicas
from reference.checks import check_names
from reference.processes import descendants

ROOT = Path(__file__).resolve().parents[1]


def test_a_batch_is_split_in_row_order_the_first_rows_mod_n_replicas_one_row_more():
    assert [(s.start, s.stop) for s in replicas.shards(64, 3)] == [(0, 22), (22, 43), (43, 64)]
    assert [(s.start, s.stop) for s in replicas.shards(6, 4)] == [(0, 2), (2, 4), (4, 5), (5, 6)]
    assert [s.stop - s.start for s in replicas.shards(1, 2)] == [1, 0]  # a replica may have no rows
    assert replicas.loss_scale("mean", 64, 3) == 3 / 64 and replicas.loss_scale("sum", 64, 3) == 3.0


def _run(specs: list[str], impl, checks: list[str] | None = None, replicas_n: int = 2, dtypes=("float64", "float32")):
    sel = runner.Selection(specs, [impl.name], list(dtypes), ["cpu"], checks or check_names(replicas=replicas_n),
                           replicas=replicas_n)
    try:
        return {f"{o.spec}:{o.dtype}:{o.check}": o for o in runner.run(sel, lambda name: impl)}
    finally:
        impl.close()


def test_torch_over_two_replicas_matches_the_reference_on_the_global_batch_and_its_replicas_agree():
    """Every check of a digits and a regression network over 2 replicas: the loss and gradients combined from the
    shards, every optimizer's two steps, 50 steps (batches of 32 and, shuffled, of 10: 16 and 5 rows a replica), and
    the replicas bitwise equal after build and every step."""
    out = _run(["digits_even_odd", "regression_sigmoid10"], registry.make("torch-x2"))
    assert out and all(o.status == "pass" for o in out.values()), [(k, o.status, o.message) for k, o in out.items()
                                                                    if o.status != "pass"][:3]
    assert out["digits_even_odd:float64:replicas"].max_rel == 0.0
    assert out["digits_even_odd:float64:grads"].max_rel <= 1e-15


def test_three_replicas_with_uneven_shards_still_give_the_global_gradient():
    out = _run(["digits_even_odd"], registry.make("torch-x3"), ["grads", "step-adagrad", "trajectory", "replicas"],
               replicas_n=3, dtypes=("float64",))
    assert all(o.status == "pass" for o in out.values()), [(k, o.failure) for k, o in out.items() if o.status != "pass"]


def test_torch_over_replicas_weights_rows_by_the_global_batchs_denominator(tmp_path):
    """Class weights divided by the weight sum (mean_with_sample_weight) over 3 uneven shards, and sample weights
    divided by the rows (sum_over_batch_size) under clipping, a schedule and per-replica batch statistics: each
    replica's weighted sum over the global batch's denominator, which DDP's average makes the reference's loss."""
    sample_weighted = tmp_path / "coverage_training_per_replica.toml"
    sample_weighted.write_text((ROOT / "reference/specs/coverage/coverage_training.toml").read_text().replace(
        'type = "batch_norm"', 'type = "batch_norm"\nreplica_statistics = "per-replica"'))
    out = {**_run(["coverage_class_weights"], registry.make("torch-x3"), replicas_n=3, dtypes=("float64",)),
           **_run([str(sample_weighted)], registry.make("torch-x2"), ["grads", "step-momentum", "schedule-piecewise-epoch",
                                                                       "trajectory", "state"], dtypes=("float64",))}
    assert len(out) > 20 and all(o.status == "pass" for o in out.values()), \
        [(k, o.status, o.message) for k, o in out.items() if o.status != "pass"][:3]
    assert out["coverage_class_weights:float64:grads"].max_rel <= 1e-15


def test_replicas_stop_early_where_the_reference_does():
    """torch: the one-process early-stopping loop on every replica, the validation loss all-reduced from the
    replicas' shards; Keras on TensorFlow: the engine's own loop around Keras's EarlyStopping callback, likewise;
    Keras on JAX: Keras's own model.fit and EarlyStopping under the distribution. The same val_loss per epoch, the
    same stopping epoch (4 of 10) and restored weights as the reference, on uneven shards where the engine has them."""
    def run(name, n, dtypes):
        return _run(["coverage_softmax_half_sse"], registry.make(name), ["early-stopping"], n, dtypes).values()

    out = [*run("torch-x3", 3, ("float64", "float32")), *run("keras-tensorflow-x3", 3, ("float64",)),
           *run("keras-jax-x2", 2, ("float64",))]
    assert len(out) == 4 and all(o.status == "pass" for o in out), [(o.impl, o.message) for o in out if o.status != "pass"]


@pytest.mark.parametrize("cls, spec, check, tensor, before", [
    ("MeanOfMeans", "digits_even_odd", "grads", "layers[1].kernel", []),  # 64 rows over 3 replicas: 22, 21, 21
    ("Unsynchronised", "digits_even_odd", "replicas", "layers[1].kernel (replicas vs replica 0)", []),
    # read from the trajectory's own run, which recorded the replicas' spreads (reference/checks/replicated.py)
    ("Unsynchronised", "digits_even_odd", "replicas", "layers[1].kernel (replicas vs replica 0)", ["trajectory"]),
    ("LocalWeightSum", "coverage_class_weights", "grads", "layers[1].kernel", []),  # shards' weight sums differ
    ("ValidationOnShard", "coverage_softmax_half_sse", "early-stopping", "val_loss after epoch 1", []),
])
def test_a_data_parallel_mistake_is_caught(cls, spec, check, tensor, before):
    impl = registry.torch_replicas(f"torch-x3-{cls}", f"parity_tests.plugins.broken_replicas:{cls}", 3)
    o = _run([spec], impl, [*before, check], replicas_n=3, dtypes=("float64",))[f"{spec}:float64:{check}"]
    assert o.status == "fail" and o.failure["tensor"] == tensor, (o.status, o.message, o.failure)


def test_the_command_runs_replicas_and_declines_what_has_no_data_parallel_engine(capsys):
    code = main(["parity", "--replicas", "2", "--spec", "gates_xor", "--dtype", "float64", "--impl", "torch",
                 "--check", "grads", "--check", "replicas"])
    assert code == 0 and "torch-x2" in capsys.readouterr().out
    assert main(["parity", "--replicas", "2", "--impl", "parity_tests.plugins.user_mlp:UserMLP"]) == 2
    assert "replicas run the built-in implementations only" in capsys.readouterr().err
    unavailable = registry.make("keras-torch-x2").hello()["available"]
    assert "DistributedDataParallel" in unavailable and "torch-xN" in unavailable


def test_keras_on_jax_over_two_devices_matches_the_reference_batch_norm_included():
    """keras.distribution.DataParallel over 2 host devices: one SPMD program whose loss is the global batch's, so its
    gradients, every optimizer's steps, 50 steps and batch normalization's moving statistics (the global batch's:
    a synchronised BatchNorm) match the one-process reference; the devices' copies stay bitwise equal."""
    out = _run(["breast_cancer_relu10_bn", "digits_even_odd"], registry.make("keras-jax-x2"))
    assert out and all(o.status == "pass" for o in out.values()), [(k, o.status, o.message) for k, o in out.items()
                                                                    if o.status != "pass"][:3]
    assert out["breast_cancer_relu10_bn:float64:state"].max_rel <= 1e-14
    assert out["breast_cancer_relu10_bn:float64:replicas"].max_rel == 0.0


def test_keras_on_jax_shards_the_batch_and_all_reduces(tmp_path):
    """Not one device doing all the work: the batch's rows are split over the devices, and the compiled gradient
    holds the all-reduce XLA inserted (its optimised HLO, dumped)."""
    code = f"""
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2 --xla_dump_to={tmp_path} --xla_dump_hlo_as_text"
os.environ["KERAS_BACKEND"], os.environ["JAX_ENABLE_X64"] = "jax", "1"
from keras_impl.replicated_jax import ReplicatedKerasJax
from reference import spec as S
from reference.checks import make_case
impl = ReplicatedKerasJax()
case = make_case(S.load("digits_even_odd"), "float64")
h = impl.build(case.spec, case.weights, dtype="float64", device="cpu")
print([s.data.shape[0] for s in impl._place(case.x).addressable_shards])
impl.loss_and_grads(h, case.x, case.y)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-2:] == ["[32,", "32]"]
    assert any("all-reduce" in f.read_text() for f in tmp_path.glob("*jit_f*after_optimizations.txt"))


def test_keras_on_jax_declines_a_batch_that_does_not_split_into_equal_shards(capsys):
    assert main(["parity", "--replicas", "3", "--impl", "keras-jax", "--spec", "gates_xor", "--dtype", "float64",
                 "--check", "grads"]) == 1  # nothing checked: 4 rows over 3 devices
    assert "jax shards a batch into equal parts only" in " ".join(capsys.readouterr().out.split())  # however wrapped


def test_keras_on_tensorflow_over_three_devices_matches_the_reference_uneven_shards_weights_and_batch_norm():
    """MirroredStrategy over 3 logical CPU devices: 64 rows as 22/21/21, the epochs' last batch of 4 as 2/1/1, each
    replica's loss its rows' sum over the global batch's count (or, for the class weights' mean_with_sample_weight,
    over the global batch's weight sum), which Keras's all-reduce sums, and batch normalization synchronised: the
    gradients, every optimizer's steps, 50 steps and the moving statistics match the reference, and the replicas'
    copies stay bitwise equal."""
    out = _run(["digits_even_odd", "coverage_class_weights", "breast_cancer_relu10_bn"],
               registry.make("keras-tensorflow-x3"), replicas_n=3, dtypes=("float64",))
    assert out and all(o.status == "pass" for o in out.values()), [(k, o.status, o.message) for k, o in out.items()
                                                                    if o.status != "pass"][:3]
    assert out["digits_even_odd:float64:grads"].max_rel <= 1e-15
    assert out["breast_cancer_relu10_bn:float64:state"].max_rel <= 1e-14
    assert out["coverage_class_weights:float64:replicas"].max_rel == 0.0


def test_keras_on_tensorflow_puts_each_replica_on_its_own_device_with_its_rows():
    """Not one device doing all the work: a mirrored copy of every variable on each logical CPU device, each replica
    given its shard of the batch."""
    code = """
import os
os.environ.update(KERAS_BACKEND="tensorflow", NNPARITY_TF_REPLICAS="3", TF_CPP_MIN_LOG_LEVEL="3")
from keras_impl.replicated_tensorflow import ReplicatedKerasTensorflow
from reference import spec as S
from reference.checks import make_case
impl = ReplicatedKerasTensorflow()
case = make_case(S.load("digits_even_odd"), "float64")
h = impl.build(case.spec, case.weights, dtype="float64", device="cpu")
local = impl.strategy.experimental_local_results
print([int(t.shape[0]) for t in local(impl._place(case.x))])
print([c.device.split("/")[-1] for c in local(h.built.weights[0].value)])
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows, devices = proc.stdout.strip().splitlines()[-2:]
    assert rows == "[22, 21, 21]" and devices == "['device:CPU:0', 'device:CPU:1', 'device:CPU:2']"


def test_keras_on_tensorflow_over_three_devices_clips_the_all_reduced_gradient():
    """clipnorm, global_clipnorm and clipvalue of the global gradient, not of each replica's part: the sum clipped,
    each replica's third of it summed back by Keras's all-reduce (within N roundings), and 50 clipped steps."""
    out = _run(["coverage_training"], registry.make("keras-tensorflow-x3"),
               ["step-sgd-clipnorm", "step-momentum-global-clipnorm", "step-adam-clipvalue", "trajectory", "replicas"],
               replicas_n=3, dtypes=("float64",))
    assert len(out) == 5 and all(o.status == "pass" for o in out.values()), \
        [(k, o.status, o.message) for k, o in out.items() if o.status != "pass"]
    assert out["coverage_training:float64:step-sgd-clipnorm"].max_rel <= 1e-15


@pytest.mark.parametrize("cls, spec, check", [
    ("KerasLocalMean", "digits_even_odd", "grads"),  # 64 rows over 3: 22, 21, 21
    ("KerasReplicaClip", "coverage_training", "step-sgd-clipnorm"),  # each replica's part clipped
])
def test_a_keras_data_parallel_default_is_caught(cls, spec, check):
    from keras_impl import backends
    from reference.worker import Worker

    env = {**backends.environment("tensorflow"), backends.TF_REPLICAS: "3"}
    impl = Worker(f"keras-tensorflow-x3-{cls}", f"parity_tests.plugins.broken_keras_replicas:{cls}", env)
    o = _run([spec], impl, [check], replicas_n=3, dtypes=("float64",))[f"{spec}:float64:{check}"]
    assert o.status == "fail" and o.failure["tensor"].startswith("layers["), (o.status, o.message, o.failure)


def test_distributed_sampler_padding_deals_an_epoch_as_torch_s_sampler_does():
    """``DDP_SAMPLER_PADDING`` (the divergence row's native side), on 256 rows in batches of 30 over 3 replicas: each
    step's 30 rows dealt to the replicas in turn, 10 each; the last step's 16 rows padded with the epoch's first 2 to
    18, 6 each; the next epoch starts afresh."""
    import numpy as np

    from torch_impl.replicated import ReplicaHandle, ReplicatedTorch

    x = np.arange(256.0)[:, None]
    batches = [slice(i, min(i + 30, 256)) for i in range(0, 256, 30)]
    dealt = []
    for rank in range(3):
        impl = object.__new__(ReplicatedTorch)  # no process group: _sampled reads the rank and the world only
        impl.world, impl.rank = 3, rank
        h = ReplicaHandle(None, None, 0)
        dealt.append([impl._sampled(h, {"x": x[b], "y": x[b]})["x"].ravel() for b in batches])
    for k, b in enumerate(batches):
        rows = [dealt[r][k] for r in range(3)]
        last = k == len(batches) - 1
        assert [len(r) for r in rows] == ([6] * 3 if last else [10] * 3)
        assert sorted(np.concatenate(rows)) == ([0.0, 1.0] if last else []) + list(map(float, range(b.start, b.stop)))
    assert list(dealt[1][0]) == [1.0, 4.0, 7.0, 10.0, 13.0, 16.0, 19.0, 22.0, 25.0, 28.0]


def _per_replica_spec(tmp_path) -> str:
    """breast_cancer_relu10_bn with its two batch normalizations per replica (DDP's default), as a spec file."""
    import dataclasses
    import json

    from reference import spec as S

    base = S.load("breast_cancer_relu10_bn")
    layers = tuple(dataclasses.replace(layer, replica_statistics="per-replica") if layer.type == "batch_norm" else layer
                   for layer in base.layers)
    path = tmp_path / "per_replica.json"
    path.write_text(json.dumps(S.to_dict(S.validate(dataclasses.replace(base, name="bn_per_replica", layers=layers)))))
    return str(path)


def test_torch_s_per_replica_batch_norm_matches_the_per_replica_reference(tmp_path):
    """DDP's default: each replica normalizes its own rows (100 rows over 3 replicas: 34 / 33 / 33), rank 0's moving
    statistics broadcast before each forward; against the reference run shard by shard (reference/replica_network.py),
    which is not the global batch's (the gradients differ by more than 1e-3)."""
    import numpy as np

    from reference.checks import make_case
    from reference.implementation import NumpyImplementation
    from reference.spec import load

    path = _per_replica_spec(tmp_path)
    out = _run([path], registry.make("torch-x3"), ["forward", "forward-training", "grads", "state", "step-adam",
                                                   "trajectory", "replicas"], replicas_n=3, dtypes=("float64",))
    assert len(out) == 7 and all(o.status == "pass" for o in out.values()), [(k, o.message) for k, o in out.items()]
    assert out["bn_per_replica:float64:state"].max_rel <= 1e-14
    case = make_case(load(path), "float64")
    grads = [NumpyImplementation(n).loss_and_grads(NumpyImplementation(n).build(case.spec, case.weights, dtype="float64",
                                                                               device="cpu"), case.x, case.y)[1]
             for n in (1, 3)]
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(*grads)) > 1e-3


def test_each_replicated_engine_declines_the_batch_statistics_it_cannot_compute(tmp_path):
    path = _per_replica_spec(tmp_path)
    reasons = {}
    for name, spec in [("torch-x2", "breast_cancer_relu10_bn"), ("keras-jax-x2", path), ("keras-tensorflow-x2", path)]:
        (o,) = _run([spec], registry.make(name), ["grads"], dtypes=("float64",)).values()
        assert o.status == "unsupported", (name, o.status, o.message)
        reasons[name] = " ".join(o.message.split())
    assert "SyncBatchNorm is GPU-only" in reasons["torch-x2"]
    assert "one SPMD program" in reasons["keras-jax-x2"]
    assert "mirrored copies part" in reasons["keras-tensorflow-x2"]


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z":
                alive.append(pid)
        except (ProcessLookupError, FileNotFoundError):
            pass
    return alive


def test_no_replica_outlives_a_closed_or_killed_run():
    for end in ("close", "kill"):
        impl = registry.make("torch-x2")
        impl.hello()
        started = [impl.proc.pid, *descendants(impl.proc.pid)]
        assert len(started) >= 3  # the launcher and its two replicas
        getattr(impl, end)()
        deadline = time.monotonic() + 30
        while _alive(started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(started), (end, _alive(started))


PARENT = """
import sys, time
from nnparity import registry
impl = registry.make("torch-x2")
impl.hello()
print(impl.proc.pid, flush=True)
time.sleep(600)
"""


def test_replicas_end_when_the_command_that_started_them_dies():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    launcher = int(parent.stdout.readline())
    started = [launcher, *descendants(launcher)]
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 60
    while _alive(started) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _alive(started), _alive(started)


def test_the_pytest_plugin_runs_an_implementation_over_replicas(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nnparity-impl", "torch", "--nnparity-replicas", "2",
                           "--nnparity-spec", "gates_xor", "--nnparity-dtype", "float64", "-q", "-p", "no:cacheprovider"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "18 passed" in proc.stdout, proc.stdout[-2000:]
    assert "torch-x2-float64-replicas" in subprocess.run(
        [sys.executable, "-m", "pytest", "--nnparity-impl", "torch", "--nnparity-replicas", "2", "--nnparity-spec",
         "gates_xor", "--nnparity-dtype", "float64", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600).stdout


def test_replicas_span_machines_through_the_launcher_s_rendezvous(tmp_path):
    """Two 'machines' on this one: node 1 started by `nnparity replica-node`, node 0 by the parity command, meeting
    at a static rendezvous on a local port; node 1 ends with the run."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    node1 = subprocess.Popen([sys.executable, "-m", "nnparity.cli", "replica-node", "--replicas", "2", "--nnodes", "2",
                              "--node-rank", "1", "--master", f"127.0.0.1:{port}"], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        proc = subprocess.run([sys.executable, "-m", "nnparity.cli", "parity", "--impl", "torch", "--replicas", "2",
                               "--nnodes", "2", "--master", f"127.0.0.1:{port}", "--spec", "gates_xor", "--dtype",
                               "float64", "--check", "grads", "--check", "trajectory", "--check", "replicas"],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0 and "PASS: 3 passed" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert node1.wait(timeout=60) == 0, node1.stderr.read()[-2000:]
    finally:
        node1.kill()
    assert main(["parity", "--replicas", "3", "--nnodes", "2", "--master", "h:1", "--impl", "torch"]) == 2


def test_dropout_masks_are_split_with_their_rows(tmp_path):
    """The oracle's masks travel with the batch and each replica drops its own rows' units (no bundled spec has
    dropout without batch normalization, which replicas decline: one written here)."""
    import dataclasses
    import json

    from reference import spec as S

    base = S.load("digits_even_odd")
    layers = list(base.layers)
    layers.insert(1, S.Dropout(0.3))
    spec = S.validate(dataclasses.replace(base, name="digits_even_odd_dropout", layers=tuple(layers)))
    path = tmp_path / "dropout.json"
    path.write_text(json.dumps(S.to_dict(spec)))
    out = _run([str(path)], registry.make("torch-x3"), ["forward-training", "grads", "trajectory", "replicas"],
               replicas_n=3, dtypes=("float64",))
    assert len(out) == 4 and all(o.status == "pass" for o in out.values()), [(k, o.message) for k, o in out.items()]
