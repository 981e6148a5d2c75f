"""Command-line entry points: the argparse code and ``main(argv)`` of every command of
mslam-plugin, installed as ``mslam-*`` console scripts (setup.py) and also reached by
``python -m`` of the library module each one drives. The work itself is done by the
library modules, which hold no argparse.

Each ``main`` takes ``argv`` (None: ``sys.argv[1:]``) and returns the exit status."""

from __future__ import annotations

import logging
import sys
from typing import Callable

LOG_FORMAT = "%(levelname)s %(message)s"


def run(body: Callable[[], object], *, status: int = 1,
        errors: tuple[type[BaseException], ...] = (OSError, ValueError)) -> int:
    """A command's body: ``body()``; an int it returns is the exit status, anything else
    means 0. An error of ``errors`` (a missing input, a bad option or file) is one
    ``error: ...`` line on stderr and exit status ``status``, not a traceback."""
    try:
        result = body()
    except errors as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return status
    return result if isinstance(result, int) else 0


def log_info(fmt: str = LOG_FORMAT, **kwargs) -> None:
    """INFO logging to stderr (``kwargs`` go to :func:`logging.basicConfig`)."""
    logging.basicConfig(level=logging.INFO, format=fmt, **kwargs)


def print_counts(counts: dict) -> None:
    """``name<TAB>count`` lines, as the preparation commands report what they wrote."""
    for name, n in counts.items():
        print(f"{name}\t{n}")
