"""Masking for the pre-training objectives. Every function takes a ``padding_mask``
(B, T), True at padding, never masks padding, and is deterministic given ``seed``.

* :func:`speech_span_mask`: w2v-BERT / wav2vec 2.0 (w2v-BERT section 3.2): every valid
  frame starts a span with probability ``start_prob`` (0.065); spans are ``span``
  (10) subsampled frames long and may overlap; at least one span per sequence.
* :func:`text_span_mask`: SpanBERT-style (mSLAM section 3.2): span lengths drawn from a
  geometric distribution with mean ``mean_span`` (20 characters in mSLAM, 5 in SLAM),
  clipped to the remaining budget, until ``rate`` (about 15%) of the characters are
  masked.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def speech_span_mask(padding_mask: torch.Tensor, start_prob: float = 0.065, span: int = 10,
                     seed: int | np.random.Generator = 0, min_spans: int = 1) -> torch.Tensor:
    """Boolean mask (B, T), True at masked frames."""
    rng = _rng(seed)
    lengths = (~padding_mask).sum(-1).tolist()
    out = np.zeros(tuple(padding_mask.shape), dtype=bool)
    for i, length in enumerate(lengths):
        if length == 0:
            continue
        starts = np.flatnonzero(rng.random(length) < start_prob)
        if len(starts) < min_spans:
            starts = rng.choice(max(1, length - span + 1), size=min(min_spans, length),
                                replace=False)
        for s in starts:
            out[i, s:min(s + span, length)] = True
    return torch.from_numpy(out).to(padding_mask.device)


def text_span_mask(padding_mask: torch.Tensor, rate: float = 0.15, mean_span: float = 20.0,
                   seed: int | np.random.Generator = 0) -> torch.Tensor:
    """Boolean mask (B, U), True at masked characters; ceil(rate * length) per sequence."""
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"`rate` must be in (0, 1], but is {rate} instead.")
    rng = _rng(seed)
    lengths = (~padding_mask).sum(-1).tolist()
    out = np.zeros(tuple(padding_mask.shape), dtype=bool)
    p = 1.0 / max(mean_span, 1.0)
    for i, length in enumerate(lengths):
        budget = math.ceil(rate * length)
        while out[i, :length].sum() < budget:
            need = budget - int(out[i, :length].sum())
            width = int(min(rng.geometric(p), need, length))
            free = np.flatnonzero(~out[i, :length])
            # start at a free position so each draw masks something new
            start = int(rng.choice(free))
            out[i, start:min(start + width, length)] = True
    return torch.from_numpy(out).to(padding_mask.device)
