"""``w2vbert2_cmvn``, a fairseq audio feature transform for ``speech_to_text`` configs:
w2v-BERT 2.0's per-utterance normalisation of stored filterbanks
(:mod:`mslam_plugin.data.w2vbert2_features`)."""

from __future__ import annotations

import numpy as np
import torch
from fairseq.data.audio.feature_transforms import (AudioFeatureTransform,
                                                   register_audio_feature_transform)

from .w2vbert2_features import STACK, normalize_per_bin


@register_audio_feature_transform("w2vbert2_cmvn")
class W2VBert2CMVN(AudioFeatureTransform):
    """``w2vbert2_cmvn``, a fairseq audio feature transform: the normalisation and odd-
    frame drop of :func:`~mslam_plugin.data.w2vbert2_features.w2vbert2_fbank` applied to
    stored Kaldi filterbanks (T, 80) (fbank80.zip of fairseq's speech_to_text preparation
    holds the same values as :func:`~mslam_plugin.data.w2vbert2_features.kaldi_fbank`, in
    float32), so a speech_to_text config says ``transforms: {'*':
    [w2vbert2_cmvn]}`` where other models use ``utterance_cmvn`` (which divides by the
    ddof=0 deviation and keeps every frame)."""

    @classmethod
    def from_config_dict(cls, config=None):
        return cls()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        feats = normalize_per_bin(torch.from_numpy(np.asarray(x, dtype=np.float64)))
        return feats[: feats.size(0) - feats.size(0) % STACK].float().numpy()

    def __repr__(self):
        return "W2VBert2CMVN()"
