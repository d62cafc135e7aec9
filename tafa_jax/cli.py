"""The ``tafa-jax`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tafa_jax._version import __version__


class UserError(Exception):
    """A mistake the user can fix: shown as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tafa-jax",
        description="Task-agnostic fingerprinting of ReLU networks (TAFA) in JAX.",
    )
    parser.add_argument("--version", action="version", version=f"tafa-jax {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("demo", help="the warfarin scenario end to end on real IWPC data")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "demo":
            raise UserError("`tafa-jax demo` is not yet available")
    except UserError as err:
        print(f"tafa-jax: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
