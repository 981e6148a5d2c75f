"""mSLAM model: presets' parameter counts (meta device), padding invariance for speech,
text and paired input, typed outputs, conformer options, activation checkpointing."""

import argparse

import pytest
import torch

from mslam_plugin.models.mslam import MSLAMConfig, MSLAMModel
from fairseq.models import ARCH_CONFIG_REGISTRY

VOCAB, PAD = 4102, 1


def build(arch="mslam_tiny", device=None, **overrides):
    ns = argparse.Namespace(**overrides)
    ARCH_CONFIG_REGISTRY[arch](ns)
    cfg = MSLAMConfig(**vars(ns))
    if device is not None:
        with torch.device(device):
            return MSLAMModel(cfg, VOCAB, PAD)
    torch.manual_seed(0)
    return MSLAMModel(cfg, VOCAB, PAD).eval()


@pytest.mark.parametrize("arch,low,high", [("mslam_tiny", 1e6, 1e7),
                                           ("mslam_base", 0.55e9, 0.65e9),
                                           ("mslam_large", 1.8e9, 2.2e9),
                                           ("mslam_w2vbert2", 0.55e9, 0.65e9)])
def test_preset_parameter_counts_on_meta_device(arch, low, high):
    model = build(arch, device="meta")
    # fairseq's quantizer builds its codebook with a legacy constructor (CPU): that alone
    # is allocated, at most 1024 x 1024 floats
    allocated = sum(p.numel() for p in model.parameters() if not p.is_meta)
    assert allocated <= 1024 * 1024
    assert low <= sum(p.numel() for p in model.parameters()) <= high


def _speech_batch(lengths, feat=80):
    torch.manual_seed(1)
    t = max(lengths)
    fbank = torch.randn(len(lengths), t, feat)
    mask = torch.arange(t)[None, :] >= torch.tensor(lengths)[:, None]
    return fbank, mask


def _tokens(lengths):
    torch.manual_seed(2)
    out = torch.full((len(lengths), max(lengths)), PAD)
    for i, n in enumerate(lengths):
        out[i, :n] = torch.randint(6, VOCAB, (n,))
    return out


SCHEMES = [dict(), dict(pos_scheme="shaw"), dict(speech_frontend="stack", conv_norm="layer",
                                                 conv_kernel_size=31),
           dict(speech_frontend="stack", conv_norm="layer", conv_kernel_size=31,
                conv_no_bias=True, conv_causal=True, pos_scheme="shaw",
                speech_no_feature_norm=True, speech_quantizer_input="stacked"),
           dict(speech_quantizer_input="fbank")]


@pytest.mark.parametrize("overrides", SCHEMES,
                         ids=["rotary-conv-group", "shaw", "stack-layer-k31", "w2vbert2-options", "fbank-targets"])
def test_speech_padding_invariance(overrides):
    model = build(**overrides)
    fbank, pad = _speech_batch([97, 130, 61])
    with torch.no_grad():
        batch = model.forward_speech(fbank, pad)
        for i, n in enumerate([97, 130, 61]):
            alone = model.forward_speech(fbank[i:i + 1, :n], pad[i:i + 1, :n])
            t = alone.context.size(1)
            assert not batch.padding_mask[i, :t].any() and batch.padding_mask[i, t:].all()
            torch.testing.assert_close(batch.context[i, :t], alone.context[0], atol=1e-5, rtol=0)
            torch.testing.assert_close(batch.contrastive[i, :t], alone.contrastive[0], atol=1e-5, rtol=0)
            assert torch.equal(batch.quantized.code_ids[i, :t], alone.quantized.code_ids[0])
            assert (batch.quantized.code_ids[i, t:] == -1).all()


def test_text_padding_invariance():
    model = build(pos_scheme="shaw")
    tokens = _tokens([40, 12, 27])
    with torch.no_grad():
        batch = model.forward_text(tokens)
        for i, n in enumerate([40, 12, 27]):
            alone = model.forward_text(tokens[i:i + 1, :n])
            torch.testing.assert_close(batch.context[i, :n], alone.context[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("overrides", SCHEMES[:2], ids=["rotary", "shaw"])
def test_paired_padding_invariance(overrides):
    model = build(**overrides)
    fbank, pad = _speech_batch([90, 120, 50])
    tokens = _tokens([15, 9, 30])
    with torch.no_grad():
        batch = model.forward_paired(fbank, pad, tokens)
        for i, (n, u) in enumerate([(90, 15), (120, 9), (50, 30)]):
            alone = model.forward_paired(fbank[i:i + 1, :n], pad[i:i + 1, :n], tokens[i:i + 1, :u])
            t = alone.speech.context.size(1)
            torch.testing.assert_close(batch.speech.context[i, :t], alone.speech.context[0], atol=1e-5, rtol=0)
            torch.testing.assert_close(batch.text.context[i, :u], alone.text.context[0], atol=1e-5, rtol=0)


def test_paired_text_sees_speech():
    model = build()
    fbank, pad = _speech_batch([80])
    tokens = _tokens([10])
    with torch.no_grad():
        a = model.forward_paired(fbank, pad, tokens).text.context
        b = model.forward_paired(fbank * 0.5, pad, tokens).text.context
        alone = model.forward_text(tokens).context
    assert not torch.allclose(a, b) and not torch.allclose(a, alone)


def test_masked_frames_use_mask_embedding_and_heads_shapes():
    model = build()
    fbank, pad = _speech_batch([64, 48])
    out = model.forward_speech(fbank, pad)
    mask = torch.zeros_like(out.padding_mask)
    mask[:, 2:6] = True
    masked = model.forward_speech(fbank, pad, mask=mask)
    assert torch.equal(masked.features, out.features)  # quantizer targets stay unmasked
    assert not torch.allclose(masked.contrastive, out.contrastive)
    assert model.code_head(masked.context).shape == (2, 16, 1024)
    assert model.ctc_head(masked.context).shape == (2, 16, VOCAB)
    assert model.quantized_proj(masked.quantized.quantized).shape == (2, 16, 64)
    assert 1 <= float(out.quantized.code_perplexity) <= 1024


def test_activation_checkpointing_gives_same_gradients():
    fbank, pad = _speech_batch([50, 40])
    grads = []
    for flag in (False, True):
        model = build(checkpoint_activations=flag, dropout=0.0, attention_dropout=0.0).train()
        out = model.forward_speech(fbank, pad, quantize=False)
        out.context.masked_fill(out.padding_mask[..., None], 0).square().mean().backward()
        grads.append(model.speech_encoder.layers[0].ffn1.fc1.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-5)


def test_bad_config_messages():
    with pytest.raises(ValueError, match="`conv_norm_groups` must divide the model dim 144"):
        build(conv_norm_groups=7)
    with pytest.raises(ValueError, match="`conv_kernel_size` must be odd"):
        build(conv_kernel_size=4)
    with pytest.raises(ValueError, match="`speech_quantizer_input` must be 'features' or 'fbank' "
                                         "with the conv front-end, but is 'stacked' instead."):
        build(speech_quantizer_input="stacked")


def test_bf16_autocast_forward_backward_is_finite():
    # what --bf16 / --amp do on a GPU, here with the CPU autocast
    model = build(dropout=0.0).train()
    fbank, pad = _speech_batch([64, 40])
    tokens = _tokens([12, 7])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.forward_paired(fbank, pad, tokens)
        loss = model.ctc_head(out.speech.context).float().logsumexp(-1).mean() \
            + model.text_head(out.text.context).float().logsumexp(-1).mean() \
            + out.speech.quantized.prob_perplexity
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_fbank_quantizer_input_is_the_stacked_filterbanks_whatever_the_front_end():
    model = build(speech_quantizer_input="fbank")
    fbank = torch.randn(2, 37, 80)
    pad = torch.zeros(2, 37, dtype=torch.bool)
    pad[1, 30:] = True
    before = model.speech_features(fbank, pad)
    with torch.no_grad():
        model.frontend.proj.weight.mul_(3.0)
    after = model.speech_features(fbank, pad)
    assert before.targets.shape == (2, 10, 320) and before.padding_mask.shape == (2, 10)
    assert torch.equal(before.targets, after.targets)
    assert not torch.allclose(before.x, after.x)
    # frame 2 of utterance 0 is filterbank frames 8-11, normalised over its 320 values
    frame = fbank[0, 8:12].reshape(-1)
    assert torch.allclose(before.targets[0, 2], (frame - frame.mean()) / frame.std(unbiased=False),
                          atol=1e-4)
