"""The ``nnparity`` command: a table of subcommands, and the one error boundary every command shares.

A user's mistake — a bad argument, spec, file or implementation — is a ``UserError``: one paragraph,
exit code 2, no traceback. What the machine refuses (a file it cannot write, memory it does not have)
is the same paragraph naming the file. Ctrl-C exits 130 and SIGTERM 143, both after stopping every
worker; and when the command ends, by any path, no process it started is left (``reference/processes.py``).
"""
from __future__ import annotations

import argparse
import signal
import sys

from rich.markup import escape

from nnparity.commands import bench, check, divergences, golden, gradcheck, parity, replica_node, reproduce, specs
from nnparity.console import err
from reference import processes
from reference.errors import UserError

COMMANDS = [parity, check, golden, divergences, reproduce, bench, gradcheck, specs, replica_node]


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: every worker stopped, every temporary file removed."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnparity", description="Cross-framework parity for dense neural networks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _error(text: str) -> int:
    err.print(f"[bold red]error[/]: {escape(text)}", markup=True, soft_wrap=True)
    return 2


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """``argv`` None: this process is the command (signals handled, every descendant ended on exit); a list:
    called in-process (the tests), which leaves the caller's own processes alone."""
    args = build_parser().parse_args(argv)
    program = argv is None
    if program:
        processes.become_subreaper()  # a worker's orphans come back to us, so the sweep below finds them
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.run(args)
    except UserError as exc:
        return _error(str(exc))
    except KeyboardInterrupt as exc:
        err.print("terminated" if isinstance(exc, Terminated) else "interrupted")
        return 143 if isinstance(exc, Terminated) else 130
    except BrokenPipeError:  # `nnparity show x | head`: the reader left; nothing more to say
        sys.stderr.close()
        return 0
    except MemoryError:
        return _error("this machine ran out of memory for this run; use a smaller spec (fewer units), fewer --steps, "
                      "or fewer specs at once.")
    except OSError as exc:
        if exc.filename is None:
            raise
        return _error(f"{exc.filename}: {exc.strerror or exc}. Check the path and that it can be read or written.")
    finally:
        if program:
            processes.end_descendants()


if __name__ == "__main__":
    sys.exit(main())
