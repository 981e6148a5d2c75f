"""Registered fairseq models of mslam-plugin (imported for registration)."""

from . import mslam, mslam_st  # noqa: F401,E402
