"""torch over N data-parallel replicas: ``DistributedDataParallel`` over the gloo backend, one process per replica,
started by torch's own launcher (``torch.distributed.run``), against the single-process reference on the global
batch (``reference/replicas.py``: the split and each replica's loss).

Every rank runs this implementation. Rank 0 is the worker the runner talks to (``reference/worker.py``); each of
its protocol calls is first broadcast to the other ranks (``process_group.Channel``), which make the same call on their own
handle (``follow``), so every replica builds, steps and reads its weights in the same order. Each replica computes
on its shard of the batch; DDP averages the gradients in backward; the answers rank 0 returns are the global ones:
the outputs gathered shard by shard, the loss summed over the replicas, the gradients and weights rank 0 holds
(identical on every replica, which ``replica_weights`` lets the ``replicas`` check verify bitwise).

Batch normalization is DDP's default, each replica's own statistics (``replica_statistics = "per-replica"``,
against ``reference/replica_network.py``), with rank 0's moving statistics broadcast to every replica before each
forward (``broadcast_buffers``). Declined for now (``supports``): batch normalization with global statistics
(``SyncBatchNorm`` is GPU-only). Early stopping (``fit``) runs the one-process loop on every replica, the
validation loss all-reduced from the replicas' shards, so that every replica stops at the same epoch.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist

from reference import native as N
from reference import replicas, weighting
from reference import spec as S
from reference.native import Native
from torch_impl import losses, model
from torch_impl.implementation import TorchHandle, TorchImplementation
from torch_impl.process_group import EXIT, Channel, join


@dataclass
class ReplicaHandle:
    """A replica's torch handle, its DDP wrapper, and the id rank 0 gave it (the same on every rank)."""

    torch: TorchHandle
    ddp: torch.nn.parallel.DistributedDataParallel
    id: int
    native: frozenset = frozenset()  # the data-parallel defaults left on (nnparity divergences --topic data-parallel)
    epoch: list = field(default_factory=list)  # DDP_SAMPLER_PADDING: the epoch's batches so far, as DistributedSampler reads

    @property
    def spec(self) -> S.Spec:
        return self.torch.spec


class ReplicatedTorch(TorchImplementation):
    """``TorchImplementation`` with every call made on N replicas at once (see the module's docstring)."""

    # What a user porting a one-process loop writes on each replica: natively, only for nnparity divergences.
    native_aspects = frozenset({Native.DDP_LOCAL_MEAN, Native.DDP_SUMMED_LOSS, Native.DDP_SAMPLER_PADDING})
    OWN_LOSS = frozenset({Native.DDP_LOCAL_MEAN, Native.DDP_SUMMED_LOSS, Native.DDP_SAMPLER_PADDING})

    def __init__(self):
        join()
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.name = f"torch-x{self.world}"
        self.channel, self.handles, self._ids = Channel(), {}, 0

    def supports(self, spec) -> str | None:
        why = super().supports(spec)
        if why is None and any(layer.type == "batch_norm" and layer.replica_statistics == "global" for layer in spec.layers):
            why = ("batch normalization with global statistics over replicas: torch's SyncBatchNorm is GPU-only (CPU "
                   "support was proposed and closed, pytorch PR #78081); DDP's default, each replica's own statistics, "
                   "is replica_statistics = 'per-replica'")
        if why is None and any(layer.type == "batch_norm" for layer in spec.layers) and \
                replicas.smallest_shard(spec, self.world) < 2:
            why = (f"batch normalization over {self.world} replicas with a batch that leaves a replica fewer than 2 rows: "
                   "torch's BatchNorm1d refuses to train on one row (\"Expected more than 1 value per channel\")")
        return why

    def devices(self) -> list[str]:
        return ["cpu"]

    # ---- rank 0 broadcasts each call; every rank then makes it ----

    def _call(self, op: str, handle: ReplicaHandle | None, arrays: dict, **kwargs):
        if self.rank == 0:
            self.channel.send(op, None if handle is None else handle.id, kwargs, arrays)
        return getattr(self, f"_{op}")(handle, arrays, **kwargs)

    def follow(self) -> None:
        """A replica other than rank 0: make each call rank 0 broadcasts, until it says exit."""
        while True:
            op, hid, kwargs, arrays = self.channel.receive()
            if op == EXIT:
                return
            getattr(self, f"_{op}")(self.handles.get(hid), arrays, **kwargs)

    def close(self) -> None:
        """Rank 0: release the followers."""
        if self.rank == 0:
            self.channel.send(EXIT, None, {}, {})

    # ---- the protocol, on rank 0 ----

    def build(self, spec, weights, *, dtype, device, native: frozenset = frozenset()) -> ReplicaHandle:
        unknown = frozenset(native) - self.native_aspects
        if unknown:
            raise ValueError(f"replicas run aligned, or with {N.keys(self.native_aspects)} natively; not {N.keys(unknown)}")
        return self._call("build", None, {f"w{i}": w for i, w in enumerate(weights)}, spec=S.to_dict(spec),
                          dtype=dtype, device=device, native=N.keys(native))

    def forward(self, h, x, training=False, masks=None):
        return self._call("forward", h, self._batch(x, None, masks), training=training)

    def layer_outputs(self, h, x, training=False, masks=None):
        return self._call("layer_outputs", h, self._batch(x, None, masks), training=training)

    def loss_and_grads(self, h, x, y, masks=None, sample_weight=None):
        return self._call("loss_and_grads", h, self._batch(x, y, masks, sample_weight))

    def step(self, h, x, y, masks=None, sample_weight=None):
        return self._call("step", h, self._batch(x, y, masks, sample_weight))

    def end_epoch(self, h):
        self._call("end_epoch", h, {})

    def train(self, h, x, y, batches):
        """One data-parallel step per batch (``step``'s), the loop run on every replica: one broadcast for all of
        them (the studies' runs), not one per step."""
        return self._call("train", h, {"x": x, "y": y, **{f"batch{i}": np.asarray(b) for i, b in enumerate(batches)}})

    def fit(self, h, x, y, epochs, x_val, y_val):
        """Early stopping over the replicas (``_fit``): one broadcast for the whole run."""
        batches = {f"epoch{e}:{i}": np.asarray(b) for e, epoch in enumerate(epochs) for i, b in enumerate(epoch)}
        return self._call("fit", h, {"x": x, "y": y, "x_val": x_val, "y_val": y_val, **batches}, epochs=len(epochs))

    def weights(self, h):
        return model.canonical(h.torch.model)

    def state(self, h):
        """Replica 0's moving statistics (what DDP broadcasts to the others before their next forward)."""
        return model.canonical(h.torch.model, state=True)

    def replica_weights(self, h) -> list[list[np.ndarray]]:
        """Every replica's weights, gathered to rank 0 (replica 0's first)."""
        return self._call("replica_weights", h, {})

    def forget(self) -> None:
        """Every handle, on every replica (the runner is done with their case)."""
        self._call("forget", None, {})

    # ---- what every rank does ----

    @staticmethod
    def _batch(x, y, masks, sample_weight=None) -> dict:
        out = {"x": x, **({} if y is None else {"y": y})}
        if sample_weight is not None:
            out["sample_weight"] = np.asarray(sample_weight)
        out.update({f"mask:{k}": m for k, m in (masks or {}).items()})
        return out

    def _shard(self, arrays: dict) -> tuple[slice, dict]:
        """This replica's rows of every array of the batch (``replicas.shards``)."""
        part = replicas.shards(len(arrays["x"]), self.world)[self.rank]
        return part, {k: a[part] for k, a in arrays.items()}

    @staticmethod
    def _local_masks(local: dict) -> dict | None:
        """This replica's rows of each dropout mask (sent as ``mask:layers[i]``), or None."""
        return {k[5:]: m for k, m in local.items() if k.startswith("mask:")} or None

    def _build(self, _, arrays, spec, dtype, device, native=()):
        spec = S.from_dict(spec, "replicated build")
        weights = [arrays[f"w{i}"] for i in range(len(arrays))]
        th = super().build(spec, weights, dtype=dtype, device=device)
        # broadcast_buffers (the default): rank 0's moving statistics go to every replica before each forward.
        ddp = torch.nn.parallel.DistributedDataParallel(th.model)
        # DDP regroups its gradient buckets once, after the first backward, in the order gradients became ready; an
        # element's place in its bucket decides the order its replicas' values are summed in (N > 2). One backward
        # on no rows now, so that every later one (loss_and_grads, then step) sums in the same order, bitwise.
        th.model.prepare(False, None)  # inference mode: a dropout layer needs no mask for it
        ddp(torch.zeros((0, spec.n_inputs), dtype=th.dtype, device=th.device)).sum().backward()
        th.model.zero_grad(set_to_none=False)
        self._ids += 1
        h = self.handles[self._ids] = ReplicaHandle(th, ddp, self._ids, N.from_keys(native))
        return h

    def _forget(self, _, arrays):
        self.handles.clear()

    @staticmethod
    def _broadcast_state(h) -> None:
        for buffer in h.torch.model.buffers():
            dist.broadcast(buffer.data, 0)

    def _gather_rows(self, rows: int, local: torch.Tensor) -> np.ndarray | None:
        """The replicas' rows of one output, concatenated in replica order on rank 0 (padded for the collective)."""
        parts = replicas.shards(rows, self.world)
        most = max(p.stop - p.start for p in parts)
        padded = torch.zeros((most, *local.shape[1:]), dtype=local.dtype)
        padded[: local.shape[0]] = local
        gathered = [torch.empty_like(padded) for _ in range(self.world)]
        dist.all_gather(gathered, padded)
        return torch.cat([g[: p.stop - p.start] for g, p in zip(gathered, parts)]).numpy()

    def _outputs(self, h, arrays, training):
        self._broadcast_state(h)  # inference normalizes by replica 0's moving statistics, as DDP's next forward would
        _, local = self._shard(arrays)
        outs = self._layer_tensors(h.torch, local["x"], training, self._local_masks(local))
        return [self._gather_rows(len(arrays["x"]), o) for o in outs]

    def _forward(self, h, arrays, training):
        return self._outputs(h, arrays, training)[-1]

    def _layer_outputs(self, h, arrays, training):
        return self._outputs(h, arrays, training)

    def _sampled(self, h, arrays) -> dict:
        """``DDP_SAMPLER_PADDING``: this replica's rows of the batch as ``DistributedSampler(shuffle=False,
        drop_last=False)`` and a ``DataLoader`` of B / N rows per replica deal them: the epoch's rows so far in the
        shared order, dealt to the replicas in turn (replica r: rows r, r + N, ...), the epoch padded with its first
        rows to a multiple of N (torch/utils/data/distributed.py), this step's B / N of them."""
        from torch.utils.data.distributed import DistributedSampler

        h.epoch.append(arrays)
        rows = {key: np.concatenate([a[key] for a in h.epoch]) for key in ("x", "y", "sample_weight") if key in arrays}
        per_replica, k = len(h.epoch[0]["x"]) // self.world, len(h.epoch) - 1
        dealt = list(DistributedSampler(range(len(rows["x"])), num_replicas=self.world, rank=self.rank, shuffle=False))
        idx = dealt[k * per_replica:(k + 1) * per_replica]
        return {key: a[idx] for key, a in rows.items()}

    def _replica_loss(self, h, arrays, local: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(what this replica back-propagates, its share of the reported loss) (``reference/replicas.py``): aligned,
        ``N/D`` times its summed (weighted) per-sample losses (``N`` times for a summed loss; D the global batch's
        rows, or its weight sum for ``mean_with_sample_weight``) plus the L2 term, so that DDP's average is the
        global batch's gradient; natively (``DDP_LOCAL_MEAN``, ``DDP_SUMMED_LOSS``, and ``DDP_SAMPLER_PADDING`` on
        the rows its sampler dealt, ``local``) the spec's reduction over its own rows plus the L2 term, what a
        one-process loop becomes on each replica."""
        th, spec = h.torch, h.spec
        local = self._shard(arrays)[1] if local is None else local
        x, y = self._tensor(th, local["x"]), self._tensor(th, local["y"])
        th.model.prepare(True, self._masks(th, self._local_masks(local)))
        z = h.ddp(x)
        penalty = self._penalty(th)
        if h.native & self.OWN_LOSS:
            own = self._loss_on_rows(th, z, y, local, spec.loss.reduction)
            return own + penalty, (own.detach() + penalty.detach()) / self.world
        share = self._loss_on_rows(th, z, y, local, "sum") * (self._loss_scale(th, arrays) / self.world)
        return share * self.world + penalty, share.detach() + penalty.detach() / self.world

    def _loss_on_rows(self, th, z, y, rows: dict, reduction: str) -> torch.Tensor:
        """The data loss of ``rows`` under ``reduction``, each row weighted as the spec says (``"sum"``: the rows'
        weighted sum; the spec's mean: over these rows' count or weight sum)."""
        loss, a = th.spec.loss, th.model.head(z)
        weights = weighting.row_weights(th.spec, rows["y"], rows.get("sample_weight"))
        if weights is None:
            return losses.data_loss(loss.name, reduction, z, a, y)
        return losses.reduce_weighted(loss, reduction, z, a, y, self._tensor(th, weights))

    def _loss_scale(self, th, arrays) -> float:
        """N / D (``replicas.loss_scale``), D the global batch's: its rows, or its rows' weight sum where the spec's
        weighted mean divides by that (every replica holds the whole batch's weights: no collective)."""
        spec, rows = th.spec, len(arrays["x"])
        weights = weighting.row_weights(spec, arrays["y"], arrays.get("sample_weight"))
        by_weights = weights is not None and spec.loss.weighted_reduction == "mean_with_sample_weight"
        denominator = float(self._tensor(th, weights).sum().item()) if by_weights else None
        return replicas.loss_scale(spec.loss.reduction, rows, self.world, denominator)

    def _loss_and_grads(self, h, arrays):
        th = h.torch
        th.model.zero_grad(set_to_none=False)
        snapshot = model.state_snapshot(th.model)
        loss, reported = self._replica_loss(h, arrays)
        loss.backward()
        model.restore(th.model, snapshot)
        dist.all_reduce(reported)
        return float(reported.item()), model.canonical(th.model, grads=True)

    def _step(self, h, arrays):
        th = h.torch
        th.optimizer.zero_grad(set_to_none=False)
        local = self._sampled(h, arrays) if Native.DDP_SAMPLER_PADDING in h.native else None
        self._replica_loss(h, arrays, local)[0].backward()
        self.clip_gradients(th)
        th.optimizer.step()
        self._after_step(th)
        return model.canonical(th.model)

    def _train(self, h, arrays):
        x, y = arrays["x"], arrays["y"]
        weights = model.canonical(h.torch.model)
        for i in range(sum(k.startswith("batch") for k in arrays)):
            idx = arrays[f"batch{i}"]
            weights = self._step(h, {"x": x[idx], "y": y[idx]})
        return weights

    def _fit(self, h, arrays, epochs: int):
        """The one-process early-stopping loop (``TorchImplementation._stop_early``) on every replica: each epoch's
        data-parallel steps, then the validation loss, each replica's shard of the validation rows summed by an
        all-reduce, so every replica sees the same number and stops at the same epoch, restoring the same state."""
        x, y = arrays["x"], arrays["y"]

        def train_epoch(e: int) -> None:
            i = 0
            while f"epoch{e}:{i}" in arrays:
                idx = arrays[f"epoch{e}:{i}"]
                self._step(h, {"x": x[idx], "y": y[idx]})
                i += 1
            self._end_epoch(h, {})

        monitored = self._stop_early(h.spec.training.early_stopping, h.torch.model, epochs, train_epoch,
                                     lambda: self._validation_loss(h, arrays["x_val"], arrays["y_val"]))
        return model.canonical(h.torch.model), monitored

    def _validation_loss(self, h, x_val, y_val) -> float:
        """C on the validation rows in inference mode: each replica's rows' summed (weighted) losses over the global
        denominator, plus its 1/N of the L2 term, all-reduced (the same float on every replica)."""
        th, rows = h.torch, {"x": x_val, "y": y_val}
        self._broadcast_state(h)  # inference normalizes by replica 0's moving statistics
        local = self._shard(rows)[1]
        with torch.no_grad():
            z = th.model.logits(self._tensor(th, local["x"]), training=False)
            share = self._loss_on_rows(th, z, self._tensor(th, local["y"]), local, "sum") * (
                self._loss_scale(th, rows) / self.world) + self._penalty(th) / self.world
        dist.all_reduce(share)
        return float(share.item())

    def _end_epoch(self, h, arrays):
        h.epoch.clear()
        super().end_epoch(h.torch)

    def _replica_weights(self, h, arrays):
        mine = model.canonical(h.torch.model)
        out = [[None] * len(mine) for _ in range(self.world)]
        for j, w in enumerate(mine):
            t = torch.from_numpy(w)
            gathered = [torch.empty_like(t) for _ in range(self.world)]
            dist.all_gather(gathered, t)
            for r in range(self.world):
                out[r][j] = gathered[r].numpy()
        return out
