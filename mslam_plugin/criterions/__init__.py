"""Registered fairseq criterions of mslam-plugin (imported for registration)."""
from . import mslam_pretraining  # noqa: F401
