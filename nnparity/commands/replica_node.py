"""``nnparity replica-node``: this machine's replicas of a data-parallel run that spans machines.

The machine that runs ``nnparity parity --replicas N --nnodes M --master HOST:PORT`` is node 0 (its first
replica is the worker the command talks to); every other machine runs this command with its ``--node-rank``,
which starts its N / M replicas under torch's own launcher, each following node 0's calls until the run ends.
"""
from __future__ import annotations

import os
import sys

from nnparity.arguments import Once, positive_int
from nnparity.replica_topology import Topology, master
from reference.errors import UserError


def run(args) -> int:
    top = Topology(args.replicas, args.nnodes, master(args.master))
    if not 0 < args.node_rank < args.nnodes:
        raise UserError(f"--node-rank {args.node_rank}: this command runs the nodes 1 .. {args.nnodes - 1}; node 0 is "
                        "the machine that runs nnparity parity.")
    cmd = [sys.executable, *top.launcher(args.node_rank), "torch_impl.replicated:ReplicatedTorch"]
    os.execve(sys.executable, cmd, {**os.environ, **top.environment()})
    return 0  # not reached


def add_parser(sub) -> None:
    p = sub.add_parser("replica-node", help="this machine's replicas of a data-parallel run that spans machines")
    p.add_argument("--replicas", type=positive_int, required=True, action=Once, help="replicas in all (as nnparity parity's)")
    p.add_argument("--nnodes", type=positive_int, required=True, action=Once, help="machines in all")
    p.add_argument("--node-rank", type=int, required=True, action=Once, help="this machine's rank, 1 .. nnodes - 1")
    p.add_argument("--master", required=True, action=Once, help="HOST:PORT of node 0's rendezvous")
    p.set_defaults(run=run)
