"""Registered fairseq criterions of mslam-plugin, one file per criterion named as it is
registered (imported for registration)."""
from . import mslam_pretraining, mslam_rnnt  # noqa: F401
