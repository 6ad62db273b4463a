"""Argument types and options shared by the subcommands."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path


def timestamp(text: str) -> datetime:
    """ISO 8601 date or date-time; offsets are converted to naive UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _positive(kind: type, noun: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {value}")
        return value
    parse.__name__ = f"positive_{kind.__name__}"
    return parse


positive_int = _positive(int, "an integer")
positive_float = _positive(float, "a number")


def global_options(parser: argparse.ArgumentParser, suppress: bool = True) -> None:
    """--db and --config, accepted before the command and after it (then SUPPRESS keeps
    an absent sub-command option from hiding the top-level one)."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--db", type=Path, default=default,
                        help="warehouse file (env GPUCOST_DB; default gpucost.duckdb)")
    parser.add_argument("--config", type=Path, default=default,
                        help="settings file (env GPUCOST_CONFIG; default ./gpucost.toml if present)")


def add_command(sub, name: str, help: str, handler) -> argparse.ArgumentParser:
    """A subcommand parser with the global options, dispatching to handler(settings, args)."""
    parser = sub.add_parser(name, help=help, description=help)
    global_options(parser)
    parser.set_defaults(handler=handler)
    return parser
