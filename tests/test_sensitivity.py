"""The encoder input-sensitivity figures (mslam_plugin/modules/sensitivity.py)."""

import torch

from mslam_plugin.modules.sensitivity import input_sensitivity


def test_constant_output_has_no_variation_and_identical_utterances():
    x = torch.randn(1, 1, 16).expand(3, 20, 16)
    s = input_sensitivity(x)
    assert s.variation < 1e-3  # rounding noise only
    assert s.pooled_cos > 1 - 1e-6


def test_random_frames_vary_and_padding_is_ignored():
    torch.manual_seed(0)
    x = torch.randn(2, 50, 64)
    padding = torch.zeros(2, 50, dtype=torch.bool)
    padding[1, 30:] = True
    s = input_sensitivity(x, padding)
    # i.i.d. Gaussian frames: RMS distance from the mean ~ frame norm
    assert 0.9 < s.variation < 1.1
    assert abs(s.pooled_cos) < 0.6
    # padding holds garbage that must not count
    x2 = x.clone()
    x2[1, 30:] = 1e6
    assert abs(input_sensitivity(x2, padding).variation - s.variation) < 1e-6


def test_a_common_offset_cancels_in_the_variation_but_raises_the_pooled_cosine():
    torch.manual_seed(0)
    x = torch.randn(4, 40, 32)
    offset = torch.randn(32) * 10
    s0, s1 = input_sensitivity(x), input_sensitivity(x + offset)
    assert abs(s1.variation - s0.variation) < 1e-4
    assert s1.pooled_cos > 0.95 > s0.pooled_cos


def test_outputs_constant_over_time_but_distinct_per_utterance_have_no_variation():
    torch.manual_seed(0)
    x = (torch.randn(4, 1, 32) * 3 + torch.randn(32) * 10).expand(4, 30, 32)
    x = x + 1e-3 * torch.randn(4, 30, 32)  # residual noise, far below the spread between utterances
    s = input_sensitivity(x)
    assert s.variation < 0.01 and s.pooled_cos > 0.5
