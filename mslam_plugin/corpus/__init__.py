"""Corpus preparation: the offline multilingual corpus builder (GNOME help text, espeak-ng
speech, gflanguages) and the readers of real corpora (CoVoST 2, MLS, VoxPopuli, Common
Voice, mC4)."""

import logging
import sys


def run_preparation(prepare, *args) -> int:
    """A preparation command's body: ``prepare(*args)`` with INFO logging; a missing input
    or a bad option is one ``error:`` line and exit status 2, not a traceback."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        prepare(*args)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
