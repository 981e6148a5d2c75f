"""Registered fairseq models of mslam-plugin (imported for registration)."""

from . import mslam, mslam_st, mslam_transducer  # noqa: F401,E402
