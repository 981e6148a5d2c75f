"""Registered fairseq optimizer and learning-rate scheduler of mslam-plugin, one file each
named as it is registered (imported for registration): separate learning rates for the
encoder and the decoder (mSLAM section 4.3)."""
from . import mslam_adam, mslam_group_inverse_sqrt  # noqa: F401
