"""Kaldi log-mel filterbanks, the package's ``fbank`` features, computed per utterance or
for a whole batch where it lives (the GPU when training on one).

:func:`fbank_features` is torchaudio's Kaldi-compatible filterbank of one utterance (the
features fairseq's speech_to_text preparation stores): 25 ms Povey windows every 10 ms,
DC offset removed, pre-emphasis 0.97, 512-point power spectrum, 80 mel bins from 20 Hz to
Nyquist, natural log floored at float32's epsilon, ``snip_edges``, no dither.

With ``--fbank-on-device`` the loader only decodes audio: a batch of padded waveforms
goes to the device and :func:`batched_fbank` turns it into the same features, then
:func:`normalise_utterances` applies the same per-utterance mean / variance normalisation
as the CPU loader.
"""

from __future__ import annotations

import torch
import torchaudio

from .audio import SAMPLE_RATE

WINDOW = 400       # 25 ms at 16 kHz
SHIFT = 160        # 10 ms
FFT_SIZE = 512     # the window rounded up to a power of two
PREEMPHASIS = 0.97
LOW_FREQ = 20.0
STD_FLOOR = 1e-5   # as the CPU loader's normalisation (sources.load_fbank)


def num_frames(n_samples: torch.Tensor) -> torch.Tensor:
    """Filterbank frames of waveforms of ``n_samples`` (any shape): Kaldi's ``snip_edges``
    count, 1 + (n - 400) // 160, and 0 for fewer than 400 samples."""
    return torch.where(n_samples >= WINDOW, 1 + (n_samples - WINDOW).div(SHIFT, rounding_mode="floor"),
                       torch.zeros_like(n_samples))


def fbank_features(waveform: torch.Tensor, sample_rate: int = SAMPLE_RATE,
                   num_mel_bins: int = 80, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Kaldi-compatible log-mel filterbank (T, num_mel_bins) of a mono waveform (N,) in
    [-1, 1], computed in ``dtype`` (every setting spelled out, not left to torchaudio's
    defaults)."""
    wav = waveform.to(dtype).reshape(1, -1) * 32768.0  # Kaldi works on 16-bit sample values
    return torchaudio.compliance.kaldi.fbank(
        wav, sample_frequency=sample_rate, num_mel_bins=num_mel_bins, frame_length=25.0,
        frame_shift=10.0, snip_edges=True, dither=0.0, remove_dc_offset=True,
        preemphasis_coefficient=PREEMPHASIS, window_type="povey", round_to_power_of_two=True,
        use_power=True, use_log_fbank=True, low_freq=LOW_FREQ, high_freq=0.0, use_energy=False)


_MEL_CACHE: dict = {}


def _mel_banks(num_mel_bins: int, sample_rate: int, device, dtype) -> torch.Tensor:
    """(FFT_SIZE // 2 + 1, num_mel_bins) triangular mel weights, Kaldi's (torchaudio's)."""
    key = (num_mel_bins, sample_rate, str(device), dtype)
    if key not in _MEL_CACHE:
        banks, _ = torchaudio.compliance.kaldi.get_mel_banks(
            num_mel_bins, FFT_SIZE, float(sample_rate), LOW_FREQ, 0.0, 100.0, -500.0, 1.0)
        banks = torch.nn.functional.pad(banks, (0, 1))  # the Nyquist bin gets no weight
        _MEL_CACHE[key] = banks.t().contiguous().to(device=device, dtype=dtype)
    return _MEL_CACHE[key]


def batched_fbank(wav: torch.Tensor, lengths: torch.Tensor, sample_rate: int = SAMPLE_RATE,
                  num_mel_bins: int = 80) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-mel filterbanks of a padded batch of mono waveforms.

    Args:
        wav: (B, N) waveforms, zero-padded after each utterance's end: float in [-1, 1],
            or int16 sample values (what the loader hands over: fairseq's fp16 / bf16
            casts of a batch leave integer tensors alone).
        lengths: (B,) samples of each utterance.
    Returns:
        fbank (B, T, num_mel_bins) float32, T = :func:`num_frames` of the longest, and
        padding_mask (B, T), True at frames past an utterance's end (their values are 0).
    """
    assert wav.dim() == 2 and lengths.shape == wav.shape[:1], (
        f"wav must be (B, N) with lengths (B,), got {tuple(wav.shape)} and {tuple(lengths.shape)}")
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"`sample_rate` must be {SAMPLE_RATE} (the window sizes assume it), "
                         f"but is {sample_rate} instead.")
    lengths = lengths.to(wav.device)
    frames_per = num_frames(lengths)
    t = int(frames_per.max()) if lengths.numel() else 0
    b = wav.size(0)
    if t == 0:
        return wav.new_zeros(b, 0, num_mel_bins), torch.ones(b, 0, dtype=torch.bool, device=wav.device)
    need = WINDOW + (t - 1) * SHIFT
    # Kaldi works on 16-bit sample values
    x = wav.float() if wav.dtype == torch.int16 else wav.float() * 32768.0
    if x.size(1) < need:
        x = torch.nn.functional.pad(x, (0, need - x.size(1)))
    frames = x[:, :need].unfold(1, WINDOW, SHIFT)  # (B, T, 400)
    frames = frames - frames.mean(-1, keepdim=True)  # DC offset
    previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
    frames = frames - PREEMPHASIS * previous
    window = torch.hann_window(WINDOW, periodic=False, device=x.device, dtype=x.dtype).pow(0.85)
    spectrum = torch.fft.rfft(frames * window, n=FFT_SIZE).abs().pow(2)  # (B, T, 257)
    mel = spectrum @ _mel_banks(num_mel_bins, sample_rate, x.device, x.dtype)
    feats = mel.clamp(min=torch.finfo(torch.float32).eps).log()
    padding_mask = torch.arange(t, device=x.device)[None, :] >= frames_per[:, None]
    return feats.masked_fill(padding_mask[..., None], 0.0), padding_mask


def normalise_utterances(feats: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
    """Per-utterance mean / variance normalisation over valid frames, each bin on its own
    (the unbiased standard deviation floored at 1e-5, as on the CPU path).

    Args:
        feats: (B, T, F); padding_mask: (B, T), True at padding.
    Returns:
        (B, T, F), zeros at padding.
    """
    valid = (~padding_mask)[..., None].to(feats.dtype)
    n = valid.sum(1, keepdim=True)
    mean = (feats * valid).sum(1, keepdim=True) / n.clamp(min=1)
    var = ((feats - mean).pow(2) * valid).sum(1, keepdim=True) / (n - 1).clamp(min=1)
    out = (feats - mean) / var.sqrt().clamp(min=STD_FLOOR)
    return out * valid
