"""Registered fairseq models of mslam-plugin (imported for registration)."""

from . import mslam  # noqa: F401,E402
