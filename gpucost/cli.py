"""The `gpucost` command. Builds the settings once and passes them down.

Exit codes: 0 ok, 1 failure (one-line cause on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from gpucost import __version__
from gpucost.commands import COMMANDS
from gpucost.commands.args import global_options
from gpucost.errors import GpucostError
from gpucost.settings import load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gpucost",
        description="What your Kubernetes GPUs cost, which sit idle or stranded, and what to change.")
    parser.add_argument("--version", action="version", version=f"gpucost {__version__}")
    global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config, db=args.db)
        args.handler(settings, args)
    except GpucostError as exc:
        print(f"gpucost: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gpucost: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
