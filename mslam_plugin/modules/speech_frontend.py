"""Speech front-ends: 80-dim log-mel filterbank frames -> model-dim vectors.

* :class:`MSLAMConvSubsampler`: mSLAM / w2v-BERT (section 3.1): two 2-D convolutions,
  stride (2, 2) each (4x time reduction), then a linear projection to the model dim.
* :class:`MSLAMFrameStacker`: the public w2v-BERT 2.0 front-end: stack 2 frames
  (160 dims), layer norm, linear projection (2x time reduction).
Both take ``fbank`` (B, T, F) and ``padding_mask`` (B, T) (True at padding) and return
(B, T', D) with the subsampled padding mask (B, T'). The filterbanks themselves are
computed on the data side (:mod:`mslam_plugin.data.fbank`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from fairseq.modules import LayerNorm
from torch import nn


def _lengths(padding_mask: torch.Tensor) -> torch.Tensor:
    return (~padding_mask).sum(-1)


def _mask_from_lengths(lengths: torch.Tensor, t: int) -> torch.Tensor:
    return torch.arange(t, device=lengths.device)[None, :] >= lengths[:, None]


def stack_frames(fbank: torch.Tensor, padding_mask: torch.Tensor, stack: int):
    """``stack`` consecutive frames of ``fbank`` (B, T, F) side by side, the tail and the
    padding zero-filled: (B, T', F * stack) and the padding mask (B, T'), T' = ceil(T /
    stack) (for stack 4, the frame count of :class:`MSLAMConvSubsampler`)."""
    b, t, f = fbank.shape
    x = fbank.masked_fill(padding_mask[..., None], 0.0)
    pad = (-t) % stack
    x = F.pad(x, (0, 0, 0, pad)).reshape(b, (t + pad) // stack, f * stack)
    lengths = (_lengths(padding_mask) + stack - 1) // stack
    return x, _mask_from_lengths(lengths, x.size(1))


class MSLAMConvSubsampler(nn.Module):
    """Two Conv2d(kernel 3, stride 2, padding 1) + ReLU over (time, frequency), then
    Linear(channels * ceil(F/4), D). Padded frames are zeroed before each convolution so
    the last valid frame sees zeros, exactly as it does in an unpadded sequence."""

    def __init__(self, in_dim: int = 80, channels: int = 32, out_dim: int = 256):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        freq = (in_dim + 1) // 2
        freq = (freq + 1) // 2
        self.proj = nn.Linear(channels * freq, out_dim)

    def forward(self, fbank: torch.Tensor, padding_mask: torch.Tensor):
        assert fbank.dim() == 3 and padding_mask.shape == fbank.shape[:2], (
            f"fbank must be (B, T, F) with padding_mask (B, T), got {tuple(fbank.shape)} "
            f"and {tuple(padding_mask.shape)}")
        lengths = _lengths(padding_mask)
        x = fbank.masked_fill(padding_mask[..., None], 0.0).unsqueeze(1)  # (B, 1, T, F)
        for conv in (self.conv1, self.conv2):
            x = F.relu(conv(x))
            lengths = (lengths + 1) // 2
            mask = _mask_from_lengths(lengths, x.size(2))
            x = x.masked_fill(mask[:, None, :, None], 0.0)
        b, c, t, f = x.shape
        return self.proj(x.permute(0, 2, 1, 3).reshape(b, t, c * f)), mask


class MSLAMFrameStacker(nn.Module):
    """Stack ``stack`` consecutive frames (zero-padding the tail), LayerNorm, Linear: the
    w2v-BERT 2.0 feature projection (LayerNorm(160) -> Linear(160, D)). Its feature
    extraction drops an odd last frame before stacking
    (:func:`mslam_plugin.data.w2vbert2_features.w2vbert2_fbank`), so no zero half-frame
    reaches a model converted from it."""

    def __init__(self, in_dim: int = 80, stack: int = 2, out_dim: int = 256):
        super().__init__()
        self.stack = stack
        self.norm = LayerNorm(in_dim * stack)
        self.proj = nn.Linear(in_dim * stack, out_dim)

    def stack_and_norm(self, fbank: torch.Tensor, padding_mask: torch.Tensor):
        """The normalised stacked frames (B, T', F * stack), what w2v-BERT 2.0's quantizer
        sees, and the padding mask (B, T') with T' = ceil(T / stack)."""
        x, mask = stack_frames(fbank, padding_mask, self.stack)
        return self.norm(x), mask

    def forward(self, fbank: torch.Tensor, padding_mask: torch.Tensor):
        x, mask = self.stack_and_norm(fbank, padding_mask)
        return self.proj(x), mask
