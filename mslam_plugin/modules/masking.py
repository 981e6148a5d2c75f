"""Masking for the pre-training objectives. Every function takes a ``padding_mask``
(B, T), True at padding, never masks padding, and is deterministic given ``seed``.

* :func:`speech_span_mask`: w2v-BERT / wav2vec 2.0 (w2v-BERT section 3.2): every valid
  frame starts a span with probability ``start_prob`` (0.065); spans are ``span``
  (10) subsampled frames long and may overlap; at least one span per sequence, so any
  sequence of two or more frames has at least two masked frames (the contrastive loss
  draws its negatives among them).
* :func:`text_span_ids` / :func:`text_span_mask`: SpanBERT (Joshi et al., 2020, section
  3.1; mSLAM section 3.2): span lengths from a geometric distribution with mean
  ``mean_span`` (20 characters in mSLAM, 5 in SLAM) clipped at ``max_span``, start
  positions uniform, spans drawn until ``rate`` (about 15%) of the characters are masked.
* :class:`BatchMasker`: both, and the text corruption, for one batch from one generator
  (the pre-training criterion draws every mask of a batch through it).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

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


@functools.lru_cache(maxsize=None)
def clipped_geometric_p(mean: float, max_len: int) -> float:
    """Success probability p whose geometric lengths, clipped at ``max_len``, have mean
    ``mean``: E[min(G, m)] = (1 - (1 - p)^m) / p. With p = 1 / mean the clipping would
    pull the mean down (19.1 instead of 20 at m = 60)."""
    if mean <= 1.0:
        return 1.0
    lo, hi = 1e-9, 1.0  # the clipped mean falls from m (p -> 0) to 1 (p = 1)
    for _ in range(100):
        p = (lo + hi) / 2
        lo, hi = (p, hi) if (1 - (1 - p) ** max_len) / p > mean else (lo, p)
    return (lo + hi) / 2


def text_span_ids(padding_mask: torch.Tensor, rate: float = 0.15, mean_span: float = 20.0,
                  seed: int | np.random.Generator = 0, max_span: int | None = None
                  ) -> torch.Tensor:
    """Span index (B, U) long of every masked character, -1 where unmasked; spans count
    from 0 in draw order within each sequence.

    Per sequence of L characters the budget is ceil(rate * L). Each span's length is
    geometric, clipped at ``max_span`` (default 3 x ``mean_span``: SpanBERT clips its
    mean-3.8-word spans at 10, about 2.6 x; p is set so the clipped mean is
    ``mean_span``) and at L; its start is uniform over the starts that keep it inside the
    sequence. A span is never cut to the remaining budget, so the last one overshoots it
    by up to ``max_span`` - 1 characters: on text only a few spans long the realised
    rate is above ``rate`` (one span may cover a short text whole). A span overlapping
    earlier ones keeps only its new characters; one that adds none is drawn again.
    """
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"`rate` must be in (0, 1], but is {rate} instead.")
    if mean_span < 1.0:
        raise ValueError(f"`mean_span` must be at least 1, but is {mean_span} instead.")
    max_span = max_span if max_span is not None else math.ceil(3 * mean_span)
    if max_span < mean_span:
        raise ValueError(f"`max_span` must be at least `mean_span` ({mean_span}), "
                         f"but is {max_span} instead.")
    p = clipped_geometric_p(float(mean_span), int(max_span))
    rng = _rng(seed)
    out = np.full(tuple(padding_mask.shape), -1, dtype=np.int64)
    for i, length in enumerate((~padding_mask).sum(-1).tolist()):
        budget, masked, span = math.ceil(rate * length), 0, 0
        while masked < budget:
            width = min(int(rng.geometric(p)), max_span, length)
            start = int(rng.integers(length - width + 1))
            piece = out[i, start:start + width]  # a view: writes land in ``out``
            new = piece < 0
            if new.any():
                piece[new] = span
                masked, span = masked + int(new.sum()), span + 1
    return torch.from_numpy(out).to(padding_mask.device)


def text_span_mask(padding_mask: torch.Tensor, rate: float = 0.15, mean_span: float = 20.0,
                   seed: int | np.random.Generator = 0, max_span: int | None = None
                   ) -> torch.Tensor:
    """Boolean mask (B, U), True at masked characters: :func:`text_span_ids` >= 0."""
    return text_span_ids(padding_mask, rate, mean_span, seed, max_span).ge(0)


@dataclass
class CorruptedText:
    """Characters after SpanBERT corruption (:meth:`BatchMasker.text`)."""

    tokens: torch.Tensor  # (B, U) the model's input: masked spans corrupted
    target: torch.Tensor  # (B, U) the original ids at masked characters, pad elsewhere
    mask: torch.Tensor    # (B, U) True at masked characters


class BatchMasker:
    """Every random choice of one pre-training batch (speech spans, text spans and their
    corruption, and whatever else the caller draws from :attr:`rng`, e.g. contrastive
    negatives) from one generator seeded by the batch: a batch is masked the same way
    wherever and whenever it is computed.

    ``pad``, ``mask_idx``: the character vocabulary's pad and ``<mask>`` ids; random
    replacements are drawn from ids ``first_random`` to ``vocab_size`` - 1 (the ordinary
    characters)."""

    def __init__(self, seed: int, *, pad: int, mask_idx: int, first_random: int,
                 vocab_size: int, speech_span: int = 10, text_mean_span: float = 20.0):
        self.rng = np.random.default_rng(seed)
        self.pad, self.mask_idx = pad, mask_idx
        self.first_random, self.vocab_size = first_random, vocab_size
        self.speech_span, self.text_mean_span = speech_span, text_mean_span

    def speech(self, padding_mask: torch.Tensor, start_prob: float) -> torch.Tensor:
        """Mask (B, T') of subsampled frames: :func:`speech_span_mask`."""
        return speech_span_mask(padding_mask, start_prob, self.speech_span, self.rng)

    def text(self, tokens: torch.Tensor, rate: float) -> CorruptedText:
        """SpanBERT corruption (section 3.1) of ``tokens`` (B, U): spans of
        :func:`text_span_ids` covering ``rate`` of each sequence; each masked span as a
        whole becomes ``<mask>`` 80%, random characters 10%, unchanged 10% (a draw per
        character would leave about one character in ten of nearly every span visible:
        a hint span masking withholds)."""
        spans = text_span_ids(tokens.eq(self.pad).cpu(), rate, self.text_mean_span, self.rng)
        mask = spans.ge(0)
        num_spans = int(spans.max()) + 1 if spans.numel() else 0
        span_roll = torch.from_numpy(self.rng.random((tokens.size(0), max(num_spans, 1))))
        roll = span_roll.gather(1, spans.clamp(min=0))  # each character takes its span's draw
        randoms = torch.from_numpy(self.rng.integers(self.first_random, self.vocab_size,
                                                     size=tuple(tokens.shape)))
        device = tokens.device
        mask, roll, randoms = mask.to(device), roll.to(device), randoms.to(device)
        corrupted = torch.where(mask & (roll < 0.8), self.mask_idx, tokens)
        corrupted = torch.where(mask & (roll >= 0.8) & (roll < 0.9), randoms, corrupted)
        return CorruptedText(corrupted, tokens.masked_fill(~mask, self.pad), mask)
