"""The `liqe` command. Each subcommand lives in the module that does its work and registers itself here."""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .logs import configure_logging

#: Modules that define `register(subparsers)`; each adds its subcommands.
COMMAND_MODULES: tuple[str, ...] = ("liqe_lib.score", "liqe_lib.data.commands", "liqe_lib.appearance", "liqe_lib.probe",
                                   "liqe_lib.commands_train", "liqe_lib.reproduce")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liqe", description="LIQE blind image quality assessment: "
                                     "reproduce the CVPR 2023 paper, train, evaluate and score images.")
    parser.add_argument("--version", action="version", version=f"liqe-repro {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
