"""Speech features of the public w2v-BERT 2.0 encoder (Seamless Communication, 2023), so
a model converted from it (``mslam_w2vbert2``) sees the input it was trained on.

They are the features of Hugging Face's ``SeamlessM4TFeatureExtractor``, built here from
torchaudio's Kaldi-compatible filterbank, whose defaults already match it (checked in
tests/test_w2vbert2.py): the waveform scaled to 16-bit sample values (x 2^15), 400-sample
(25 ms) frames every 160 samples (10 ms) without centring (``snip_edges``), DC offset
removal, pre-emphasis 0.97, a Povey window, a 512-point power spectrum, 80 Kaldi mel
bins from 20 Hz to the Nyquist frequency, log with a floor of float32 epsilon
(1.1920929e-07), no dither. Each mel bin is then normalised over the utterance (mean,
variance with ddof=1, + 1e-7), an odd last frame is dropped, and pairs of frames are
stacked into 160 dims (20 ms) - the stacking is the ``stack`` front-end's first step
(:class:`mslam_plugin.modules.speech_frontend.MSLAMFrameStacker`), so the data side
hands the model the 80-dim frames.
"""

from __future__ import annotations

import torch

from .audio import SAMPLE_RATE
from .fbank import fbank_features

NUM_MEL_BINS = 80
STACK = 2
VARIANCE_EPS = 1e-7


def kaldi_fbank(waveform: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Log-mel filterbank (T, 80), float64, of a mono waveform (N,) in [-1, 1]: the
    package's Kaldi filterbank (:func:`mslam_plugin.data.fbank.fbank_features`, every
    setting w2v-BERT 2.0 depends on spelled out there) in double precision, as the Hugging
    Face extractor (numpy) computes: in float32 the normalised features of quiet bins
    differ by up to 1e-3."""
    if waveform.dim() != 1:
        raise ValueError(f"`waveform` must be mono (N,), but has shape {tuple(waveform.shape)} instead.")
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"`sample_rate` must be {SAMPLE_RATE}, but is {sample_rate} instead.")
    return fbank_features(waveform, sample_rate, NUM_MEL_BINS, dtype=torch.float64)


def normalize_per_bin(features: torch.Tensor) -> torch.Tensor:
    """(T, F) -> (T, F): zero mean and unit variance per bin over the utterance, the
    variance with ddof=1 plus 1e-7 (SeamlessM4TFeatureExtractor's normalisation)."""
    mean = features.mean(0, keepdim=True)
    var = features.var(0, unbiased=True, keepdim=True) if features.size(0) > 1 else \
        torch.zeros_like(mean)
    return (features - mean) / torch.sqrt(var + VARIANCE_EPS)


def w2vbert2_fbank(waveform: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """The model input of ``mslam_w2vbert2``: normalised filterbanks (T, 80), T even (an
    odd last frame is dropped after the normalisation, which counts it, as the Hugging
    Face extractor does). A waveform shorter than two frames gives (0, 80)."""
    feats = kaldi_fbank(waveform, sample_rate)
    if feats.size(0) == 0:
        return feats.float()
    feats = normalize_per_bin(feats).float()
    return feats[: feats.size(0) - feats.size(0) % STACK]


def stack_frames(features: torch.Tensor, stack: int = STACK) -> torch.Tensor:
    """(T, F) with T a multiple of ``stack`` -> (T / stack, F * stack): consecutive frames
    side by side, the 160-dim vectors of SeamlessM4TFeatureExtractor's ``input_features``."""
    t, f = features.shape
    if t % stack:
        raise ValueError(f"the frame count must be a multiple of {stack}, but is {t} instead.")
    return features.reshape(t // stack, f * stack)


def w2vbert2_stacked_features(waveform: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """(T / 2, 160): :func:`w2vbert2_fbank` stacked, for comparison with other
    implementations of the same features."""
    return stack_frames(w2vbert2_fbank(waveform, sample_rate))

