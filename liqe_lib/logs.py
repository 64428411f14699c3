"""Logging set-up for the command line and the notebooks.

open_clip reports model building at INFO and "initialized randomly" at WARNING on
the root logger; outside verbose mode those records are noise (a random init in
this package is always asked for explicitly and logged by `load_model`).
"""
from __future__ import annotations

import logging


def configure_logging(verbose: bool = False, quiet: bool = False) -> None:
    """Log this package's messages (INFO; DEBUG when verbose; WARNING when quiet, as in the notebooks,
    whose committed outputs must not depend on whether a run resumed) and only errors of the root logger."""
    handler = logging.StreamHandler()
    if not verbose:
        handler.addFilter(lambda record: record.name != "root" or record.levelno >= logging.ERROR)
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s",
                        handlers=[handler], force=True)
