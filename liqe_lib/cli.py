"""The `liqe` command. Each subcommand lives in the module that does its work and registers itself here.

Errors a user can fix (a label row, a config key, a weights file, missing data) reach the
terminal as one line, `liqe <command>: error: <message>`, with exit status 2 and no Python
traceback; `liqe -v <command>` prints the traceback as well. The library raises them as
`WeightsError`, `ValueError` (`LabelFormatError`, `UserDataError`, config errors), `KeyError`
(unknown names) or `OSError` (`FileNotFoundError`: missing files and folders; no network).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from . import __version__
from .backbone import WeightsError
from .logs import configure_logging

#: Modules that define `register(subparsers)`; each adds its subcommands.
COMMAND_MODULES: tuple[str, ...] = ("liqe_lib.score", "liqe_lib.data.commands", "liqe_lib.appearance", "liqe_lib.probe",
                                   "liqe_lib.commands_train", "liqe_lib.reproduce", "liqe_lib.pretrained")
#: What a user can fix: printed as one line (see the module docstring).
USER_ERRORS: tuple[type[BaseException], ...] = (WeightsError, ValueError, KeyError, OSError)
EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liqe", description="LIQE blind image quality assessment: "
                                     "reproduce the CVPR 2023 paper, train, evaluate and score images.")
    parser.add_argument("--version", action="version", version=f"liqe-repro {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log debug messages, and show the traceback of an error")
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
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as err:
        if args.verbose:
            traceback.print_exc()
        print(f"liqe {args.command}: error: {error_message(err)}", file=sys.stderr)
        return EXIT_USER_ERROR


def error_message(err: BaseException) -> str:
    """The message of an exception (a KeyError's without the quotes its `str` adds)."""
    if isinstance(err, KeyError) and len(err.args) == 1 and isinstance(err.args[0], str):
        return err.args[0]
    return str(err) or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
