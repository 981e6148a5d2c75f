"""Registered fairseq criterions of mslam-plugin (imported for registration)."""
from . import mslam_pretraining, rnnt  # noqa: F401
