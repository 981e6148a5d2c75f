"""Audio as the models take it: 16 kHz mono float samples in [-1, 1].

:data:`SAMPLE_RATE` is the one sample rate of the package (manifests, filterbanks,
synthesis); :func:`mono_16k` brings in-memory samples of any rate and channel count to
it, and :func:`read_waveform` does the same for any file soundfile reads. Training
readers do not resample: they refuse audio that is not 16 kHz mono
(:mod:`mslam_plugin.data.manifest`), which the preparation commands write.
"""

from __future__ import annotations

import numpy as np
import soundfile as sf
import torch

SAMPLE_RATE = 16000


def mono_16k(waveform, sample_rate: int) -> torch.Tensor:
    """Samples (N,) or (C, N) at ``sample_rate`` -> float mono (channels averaged) at
    16 kHz (N',)."""
    import torchaudio

    wav = torch.as_tensor(waveform, dtype=torch.float32)
    if wav.dim() == 2:
        wav = wav.mean(0)
    elif wav.dim() != 1:
        raise ValueError(f"a waveform must be (N,) or (C, N), not {tuple(wav.shape)}")
    if sample_rate != SAMPLE_RATE:
        wav = torchaudio.functional.resample(wav, sample_rate, SAMPLE_RATE)
    return wav


def read_waveform(path: str) -> torch.Tensor:
    """Mono 16 kHz float waveform (N,) of any file soundfile reads; ValueError naming the
    file when it cannot be decoded or holds non-finite samples."""
    try:
        wav, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (N, C)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise ValueError(f"{path}: unreadable audio ({err})") from err
    if not np.isfinite(wav).all():
        raise ValueError(f"{path}: {int((~np.isfinite(wav)).sum())} non-finite samples (NaN or Inf)")
    return mono_16k(torch.from_numpy(wav.T), rate)
