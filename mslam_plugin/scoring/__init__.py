"""Scoring: the metrics per language (:mod:`.metrics`: BLEU, chrF, WER, CER) and the
registered fairseq scorer ``mslam_wer`` (imported for registration).
``python -m mslam_plugin.scoring`` is the ``mslam-score`` command."""
from . import mslam_wer  # noqa: F401
