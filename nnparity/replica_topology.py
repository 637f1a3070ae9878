"""Where a data-parallel run's replicas are: N replicas on M machines (``--replicas``, ``--nnodes``), node 0 the
machine that runs the command, and the rendezvous endpoint of torch's launcher. One machine: a rendezvous on a free
local port (``--standalone``). Several: a static rendezvous at ``--master HOST:PORT`` with each machine's
``--node-rank`` (``nnparity replica-node`` on the others)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from reference.errors import UserError

ENV = "NNPARITY_REPLICA_NODES"  # how the command tells the registry its topology: "M HOST:PORT"


def master(text: str | None) -> tuple[str, int] | None:
    if text is None:
        return None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--master {text}: expected HOST:PORT (a port of node 0 the other machines can reach).")
    return host, int(port)


@dataclass(frozen=True)
class Topology:
    replicas: int
    nnodes: int = 1
    endpoint: tuple[str, int] | None = None

    def __post_init__(self):
        if self.replicas % self.nnodes:
            raise UserError(f"--replicas {self.replicas} over --nnodes {self.nnodes}: each machine runs the same number "
                            "of replicas; give a multiple of the machines.")
        if self.nnodes > 1 and self.endpoint is None:
            raise UserError(f"--nnodes {self.nnodes}: give --master HOST:PORT, where the machines meet.")

    def launcher(self, node_rank: int = 0) -> list[str]:
        """torch's launcher for this node's replicas, each running ``reference.worker``."""
        args = ["-m", "torch.distributed.run", f"--nproc-per-node={self.replicas // self.nnodes}"]
        if self.nnodes == 1:
            args.append("--standalone")
        else:
            host, port = self.endpoint
            args += [f"--nnodes={self.nnodes}", f"--node-rank={node_rank}", f"--master-addr={host}", f"--master-port={port}"]
        return [*args, "-m", "reference.worker"]

    def environment(self) -> dict[str, str]:
        return {"NNPARITY_REPLICAS": str(self.replicas)}

    def announce(self) -> None:
        """Tell this process's registry (its ``torch-xN`` workers) the machines beyond this one."""
        if self.nnodes > 1:
            os.environ[ENV] = f"{self.nnodes} {self.endpoint[0]}:{self.endpoint[1]}"
        else:
            os.environ.pop(ENV, None)


def announced(replicas: int) -> Topology:
    """The topology the command announced, for ``replicas`` (one machine if it announced none)."""
    text = os.environ.get(ENV)
    if not text:
        return Topology(replicas)
    nodes, endpoint = text.split()
    return Topology(replicas, int(nodes), master(endpoint))
