"""A check that stored filterbanks were computed at the 16 kHz the encoder expects.

fairseq's ``prep_covost_data.py`` extracts CoVoST 2's 48 kHz clips at 48 kHz: its 80 mel
bins then span 0-24 kHz instead of 0-8 kHz, and a pre-trained encoder reads features it
has never seen. Such features have a tell: the clips carry little or no energy above
8-16 kHz (MP3 low-pass, speech spectrum), so the top mel bins sit far below the middle
ones. In features computed at 16 kHz the top bins (about 6.9-8 kHz) sit near the middle
ones. Measured on espeak-ng speech: top-minus-middle mean log-energy +0.4 at 16 kHz,
-13.4 when the same audio is extracted at 48 kHz, -11.4 at 44.1 kHz.
"""

from __future__ import annotations

import logging
from typing import Optional, Sequence

import numpy as np

logger = logging.getLogger(__name__)
MAX_DROP = -6.0  # below this, the top bins look empty: another sample rate
TOP_BINS, MIDDLE = slice(-8, None), slice(32, 48)


def high_band_drop(features: Sequence[np.ndarray]) -> float:
    """Mean log-mel energy of the top 8 of 80 bins minus that of bins 32-47, over the
    frames of every utterance given ((T, 80) arrays of raw, unnormalised filterbanks)."""
    profile = np.concatenate([np.asarray(f, dtype=np.float64) for f in features]).mean(0)
    return float(profile[TOP_BINS].mean() - profile[MIDDLE].mean())


def check_stored_features(dataset, split: str, n: int = 32) -> Optional[float]:
    """Read up to ``n`` utterances of a speech_to_text dataset as stored (before any
    feature transform), warn when their top mel bins look empty, and return the drop;
    None when the split holds waveforms or features that are not 80-bin filterbanks."""
    from fairseq.data.audio.audio_utils import get_features_or_waveform

    from .s2t_audio import _is_audio_file

    paths = [p for p in getattr(dataset, "audio_paths", []) if not _is_audio_file(p)]
    if not paths or getattr(getattr(dataset, "cfg", None), "use_audio_input", False):
        return None
    picks = np.linspace(0, len(paths) - 1, num=min(n, len(paths))).round().astype(int)
    feats = [get_features_or_waveform(paths[i], need_waveform=False) for i in picks]
    if any(f.ndim != 2 or f.shape[1] != 80 for f in feats):
        return None
    drop = high_band_drop(feats)
    if drop < MAX_DROP:
        logger.warning(
            "%s: the top mel bins of the stored filterbanks are %.1f (log-energy) below the "
            "middle ones, over %d utterances: they look extracted at a sample rate above "
            "16 kHz (fairseq's prep_covost_data.py extracts CoVoST 2's 48 kHz clips as they "
            "are), or the audio itself is narrowband (8 kHz telephone speech upsampled). A "
            "pre-trained mSLAM encoder expects 16 kHz features: prepare CoVoST 2 with "
            "examples/covost2/prepare.sh, which resamples the clips first.",
            split, drop, len(feats))
    return drop
