"""Registered fairseq tasks of mslam-plugin (imported for registration)."""
from . import mslam_pretraining, speech_recognition, speech_translation  # noqa: F401
