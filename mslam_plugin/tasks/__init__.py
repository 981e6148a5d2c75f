"""Registered fairseq tasks of mslam-plugin, one file per task named as it is registered
(imported for registration)."""
from . import mslam_asr, mslam_pretraining, mslam_speech_translation  # noqa: F401
