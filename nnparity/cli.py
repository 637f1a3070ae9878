"""The ``nnparity`` command: a table of subcommands, and one place that turns user errors into exit code 2."""
from __future__ import annotations

import argparse
import sys

from nnparity.commands import bench, check, divergences, golden, gradcheck, parity, reproduce, specs
from rich.markup import escape

from nnparity.console import err
from reference.errors import UserError

COMMANDS = [parity, check, golden, divergences, reproduce, bench, gradcheck, specs]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnparity", description="Cross-framework parity for dense neural networks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as exc:
        err.print(f"[bold red]error[/]: {escape(str(exc))}", markup=True, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except BrokenPipeError:  # `nnparity show x | head`: the reader left; nothing more to say
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
