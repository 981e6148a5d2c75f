"""Input sensitivity of an encoder: does its output still depend on its input?

A collapsing encoder maps every frame of every utterance toward one vector; a decoder
on top then learns a language model and ignores the speech. Two figures catch it:

* ``variation``: the share of the output's spread that lies *within* utterances, over
  time: per utterance, the RMS distance of its valid frames from the utterance's mean
  frame, divided by their RMS distance from the batch's mean frame (the estimate of the
  dataset's mean frame), averaged over utterances. In [0, 1]; 0 when each utterance's
  output is constant over time; i.i.d. frames give about 1. Centring on the batch's
  mean frame makes a vector shared by every frame cancel: an encoder whose output is a
  large constant offset plus an input-dependent part is not collapsed (a LayerNorm or a
  probe's standardisation removes the offset), and no longer reads as collapsed. A batch
  of one utterance has no estimate of the dataset's mean apart from that utterance and
  gives 1.0 (callers count only batches of two or more). A spread below 1e-4 of the
  frames' RMS size is taken as rounding noise of a constant output: 0.
* ``pooled_cos``: the smallest cosine similarity between the mean-pooled outputs of two
  different utterances of the batch. Near 1 when every utterance looks the same. It is
  *not* centred: centred on the batch, the pooled vectors of a collapsed encoder are
  the residual noise and their cosines say nothing; the centred between-utterance
  spread is 1 - ``variation``. A shared offset raises it: read it with ``variation``.
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

    Returns the within-utterance share of the spread about the batch's mean frame and the
    smallest pooled cosine similarity (1.0 each for a batch of one utterance)."""
    assert x.dim() == 3, f"x must be (B, T, D), got {tuple(x.shape)}"
    x = x.detach().float()
    valid = (torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
             if padding_mask is None else ~padding_mask)
    w = valid[..., None].float()
    count = w.sum(1).clamp(min=1.0)                               # (B, 1)
    mean = (x * w).sum(1) / count                                 # (B, D)
    rms = (((x - mean[:, None]) ** 2).sum(-1, keepdim=True) * w).sum(1) / count
    centre = (x * w).sum((0, 1)) / w.sum().clamp(min=1.0)          # (D,) the batch's mean frame
    spread = (((x - centre) ** 2).sum(-1, keepdim=True) * w).sum(1) / count
    # a spread below 1e-4 of the frames' size is rounding noise: the output is constant
    size = ((x ** 2).sum(-1, keepdim=True) * w).sum(1) / count
    floor = 1e-4 * size.sqrt().clamp(min=1e-12)
    variation = (rms.sqrt() / torch.maximum(spread.sqrt(), floor)).mean().item()
    if x.size(0) < 2:
        return Sensitivity(variation, 1.0)
    unit = torch.nn.functional.normalize(mean, dim=-1)
    cos = unit @ unit.t()
    cos.fill_diagonal_(float("inf"))
    return Sensitivity(variation, cos.min().item())
