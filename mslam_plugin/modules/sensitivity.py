"""Input sensitivity of an encoder: does its output still depend on its input?

A collapsing encoder maps every frame of every utterance toward one vector; a decoder
on top then learns a language model and ignores the speech. Two figures catch it:

* ``variation``: per utterance, the RMS distance of the valid frames from the
  utterance's mean frame, divided by the mean frame norm; averaged over utterances.
  Near 0 when the output is constant over time.
* ``pooled_cos``: the smallest cosine similarity between the mean-pooled outputs of two
  different utterances of the batch. Near 1 when every utterance looks the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Sensitivity:
    variation: float
    pooled_cos: float


@torch.no_grad()
def input_sensitivity(x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> Sensitivity:
    """``x`` (B, T, D) encoder output, ``padding_mask`` (B, T) True at padding.

    Returns the time variation and the smallest pooled cosine similarity (1.0 for a
    batch of one utterance)."""
    assert x.dim() == 3, f"x must be (B, T, D), got {tuple(x.shape)}"
    x = x.detach().float()
    valid = (torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
             if padding_mask is None else ~padding_mask)
    w = valid[..., None].float()
    count = w.sum(1).clamp(min=1.0)                               # (B, 1)
    mean = (x * w).sum(1) / count                                 # (B, D)
    rms = (((x - mean[:, None]) ** 2).sum(-1, keepdim=True) * w).sum(1) / count
    frame_norm = (x.norm(dim=-1, keepdim=True) * w).sum(1) / count
    variation = (rms.sqrt() / frame_norm.clamp(min=1e-12)).mean().item()
    if x.size(0) < 2:
        return Sensitivity(variation, 1.0)
    unit = torch.nn.functional.normalize(mean, dim=-1)
    cos = unit @ unit.t()
    cos.fill_diagonal_(float("inf"))
    return Sensitivity(variation, cos.min().item())
