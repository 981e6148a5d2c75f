"""Masking utilities: never mask padding, deterministic given a seed, expected rates."""

import numpy as np
import pytest
import torch

from mslam_plugin.modules.masking import speech_span_mask, text_span_mask
from mslam_plugin.modules.packing import pack_pair


def _padding(lengths):
    return torch.arange(max(lengths))[None, :] >= torch.tensor(lengths)[:, None]


@pytest.mark.parametrize("fn", [speech_span_mask, text_span_mask])
def test_never_masks_padding_and_is_deterministic(fn):
    pad = _padding([300, 17, 120, 1])
    a, b, c = fn(pad, seed=5), fn(pad, seed=5), fn(pad, seed=6)
    assert not (a & pad).any()
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a.sum(-1) > 0).all()  # every sequence gets something masked


def test_speech_mask_rate_matches_w2v_bert_settings():
    pad = _padding([2000] * 64)
    mask = speech_span_mask(pad, start_prob=0.065, span=10, seed=0)
    expected = 1 - (1 - 0.065) ** 10  # a frame is masked unless no span starts on it
    assert abs(mask.float().mean().item() - expected) < 0.02


def test_speech_mask_has_a_span_even_for_short_input():
    pad = _padding([4, 12])
    mask = speech_span_mask(pad, start_prob=0.0, span=10, seed=1)
    assert mask.sum(-1).tolist() == [4, 10]


def test_text_mask_budget_and_span_lengths():
    pad = _padding([400] * 32 + [7])
    mask = text_span_mask(pad, rate=0.15, mean_span=20.0, seed=3)
    assert mask.sum(-1).tolist() == [60] * 32 + [2]  # ceil(0.15 * length)
    runs = []
    for row in mask[:32].numpy():
        edges = np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0]))
        runs += list(edges[1::2] - edges[::2])
    assert np.mean(runs) > 8  # long SpanBERT spans, not single characters
    with pytest.raises(ValueError, match="`rate` must be in"):
        text_span_mask(pad, rate=0.0)


def test_pack_pair_puts_padding_after_both_halves_and_splits_back():
    a, b = torch.randn(2, 5, 3), torch.randn(2, 4, 3)
    a_pad, b_pad = _padding([5, 2]), _padding([1, 4])
    packed = pack_pair(a, a_pad, b, b_pad)
    assert packed.padding_mask.tolist() == [[False] * 6 + [True] * 3, [False] * 6 + [True] * 3]
    torch.testing.assert_close(packed.x[1, :2], a[1, :2])
    torch.testing.assert_close(packed.x[1, 2:6], b[1])
    sa, sb = packed.split(packed.x)
    torch.testing.assert_close(sa[~a_pad], a[~a_pad])
    torch.testing.assert_close(sb[~b_pad], b[~b_pad])
