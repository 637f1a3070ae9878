"""How the replicas of ``torch_impl/replicated.py`` meet and hear rank 0: the process group torch's launcher set up,
and the channel over which rank 0 broadcasts each protocol call to the other ranks."""
from __future__ import annotations

import json
import os

import numpy as np
import torch
import torch.distributed as dist

from reference import bundle

EXIT = "exit"


class Channel:
    """Rank 0's calls, broadcast to every rank: a length, then a bundle (JSON arguments under ``__call__``)."""

    def send(self, op: str, handle: int | None, kwargs: dict, arrays: dict) -> None:
        payload = bundle.dumps({**arrays, "__call__": np.frombuffer(json.dumps(
            {"op": op, "handle": handle, "kwargs": kwargs}).encode(), dtype=np.uint8)})
        self._broadcast(payload)

    def receive(self) -> tuple[str, int | None, dict, dict]:
        arrays = bundle.loads(bytearray(self._broadcast(None)))
        call = json.loads(arrays.pop("__call__").tobytes())
        return call["op"], call["handle"], call["kwargs"], arrays

    @staticmethod
    def _broadcast(payload: bytes | None) -> bytes:
        size = torch.tensor([0 if payload is None else len(payload)], dtype=torch.int64)
        dist.broadcast(size, 0)
        data = torch.frombuffer(bytearray(payload), dtype=torch.uint8) if payload is not None else \
            torch.empty(int(size.item()), dtype=torch.uint8)
        dist.broadcast(data, 0)
        return data.numpy().tobytes()


def join() -> None:
    """Join the process group the launcher set up (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` in the environment)."""
    import datetime

    if not dist.is_initialized():
        # A rank that stops answering ends the others after the worker's own timeout, not gloo's default 30 min.
        timeout = datetime.timedelta(seconds=float(os.environ.get("NNPARITY_REPLICA_TIMEOUT", 600)))
        dist.init_process_group("gloo", timeout=timeout)
    torch.set_num_threads(1)
