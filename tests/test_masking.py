"""Masking utilities: never mask padding, deterministic given a seed, expected rates;
SpanBERT spans of uncut geometric lengths, corrupted span by span."""

import math

import numpy as np
import pytest
import torch

from mslam_plugin.data.char_vocab import build_char_vocab, load_char_dictionary
from mslam_plugin.modules.masking import (BatchMasker, clipped_geometric_p, speech_span_mask,
                                          text_span_ids, text_span_mask)
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


def _runs(mask):
    """Lengths of the contiguous masked runs of every row."""
    runs = []
    for row in mask.numpy():
        edges = np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0]))
        runs += list(edges[1::2] - edges[::2])
    return np.array(runs)


def test_text_mask_meets_the_budget_and_may_overshoot_by_less_than_a_span():
    lengths = [400] * 32 + [7, 1]
    pad = _padding(lengths)
    ids = text_span_ids(pad, rate=0.15, mean_span=20.0, seed=3)
    masked = ids.ge(0).sum(-1)
    budget = torch.tensor([math.ceil(0.15 * n) for n in lengths])
    assert (masked >= budget).all() and (masked < budget + 60).all()  # 60 = 3 x mean span
    assert not (ids.ge(0) & pad).any()
    assert torch.equal(text_span_mask(pad, rate=0.15, mean_span=20.0, seed=3), ids.ge(0))
    with pytest.raises(ValueError, match="`rate` must be in"):
        text_span_mask(pad, rate=0.0)
    with pytest.raises(ValueError, match="`max_span` must be at least"):
        text_span_mask(pad, mean_span=20.0, max_span=10)


def test_text_span_lengths_follow_the_clipped_geometric_not_the_budget():
    # spans are never cut to the remaining budget: on 100 characters (budget 15) spans
    # run past 15, and on 512 characters masked runs average about the mean span, 20
    # (a little more: touching spans merge into one run)
    short = text_span_mask(_padding([100] * 200), rate=0.15, mean_span=20.0, seed=0)
    assert _runs(short).max() > 15
    long = _padding([512] * 400)
    assert 19 < _runs(text_span_mask(long, rate=0.15, mean_span=20.0, seed=0)).mean() < 25
    ids = text_span_ids(long, rate=0.15, mean_span=20.0, seed=0).numpy()
    lengths = np.concatenate([np.bincount(row[row >= 0]) for row in ids])
    assert lengths.max() <= 60 and 18 < lengths.mean() < 21  # overlaps trim a few spans
    assert clipped_geometric_p(1.0, 3) == 1.0
    p = clipped_geometric_p(20.0, 60)
    assert (1 - (1 - p) ** 60) / p == pytest.approx(20.0)


def test_text_corruption_decides_per_span(tmp_path):
    build_char_vocab({"de": ["abcdefghijklmnopqrstuvwxyz äöü"]}).save(tmp_path / "dict.txt")
    d = load_char_dictionary(tmp_path / "dict.txt")
    masker = BatchMasker(5, pad=d.pad(), mask_idx=d.index("<mask>"),
                         first_random=d.nspecial + 2, vocab_size=len(d))
    tokens = torch.randint(d.nspecial + 2, len(d), (64, 512),
                           generator=torch.Generator().manual_seed(0))
    out = masker.text(tokens, 0.15)
    out = {"tokens": out.tokens, "mask": out.mask}
    is_mask = out["tokens"].eq(d.index("<mask>"))
    kept = out["tokens"].eq(tokens) & out["mask"]
    # contiguous runs: a per-character draw leaves nearly every 20-character run mixed
    # (0.8^20: 1% all <mask>); per span, only runs where two spans touch can be
    mixed, whole = [], []
    for m, k, row in zip(is_mask.numpy(), kept.numpy(), out["mask"].numpy()):
        edges = np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0]))
        for a, b in zip(edges[::2], edges[1::2]):
            mixed.append(0 < m[a:b].sum() < b - a)
            whole.append((m[a:b].all(), k[a:b].all()))
    assert np.mean(mixed) < 0.1
    all_mask, all_kept = np.mean(whole, axis=0)
    assert 0.7 < all_mask < 0.9 and 0.03 < all_kept < 0.2
    # span by span (the same draws as BatchMasker.text's): all <mask>, or none
    ids = text_span_ids(tokens.eq(d.pad()), 0.15, 20.0, np.random.default_rng(5))
    assert torch.equal(ids.ge(0), out["mask"])
    for row_ids, row_mask in zip(ids, is_mask):
        for span in range(int(row_ids.max()) + 1):
            assert row_mask[row_ids == span].unique().numel() == 1


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
