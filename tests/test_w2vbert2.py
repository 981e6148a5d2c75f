"""w2v-BERT 2.0 into mSLAM: a small randomly initialised Hugging Face Wav2Vec2BertModel,
converted, gives the same encoder output; the features equal SeamlessM4TFeatureExtractor's;
the full-size mslam_w2vbert2 encoder has the public model's parameter count; the
converter names what is wrong with a bad directory. Hugging Face's implementation is the
reference (transformers is a test requirement)."""

import argparse
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from fairseq import checkpoint_utils
from fairseq.models import ARCH_CONFIG_REGISTRY, build_model
from omegaconf import OmegaConf
from safetensors.torch import load_file, save_file
from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

from mslam_plugin.cli.convert import main_w2vbert2 as main
from mslam_plugin.convert_w2vbert2 import convert_w2vbert2
from mslam_plugin.data.char_vocab import build_char_vocab
from mslam_plugin.data.manifest import num_fbank_frames, write_manifest
from mslam_plugin.data.w2vbert2_cmvn import W2VBert2CMVN
from mslam_plugin.data.w2vbert2_features import kaldi_fbank, w2vbert2_fbank, w2vbert2_stacked_features
from mslam_plugin.models.mslam import MSLAMConfig, MSLAMModel
from mslam_plugin.models.pretrained import PretrainedEncoder
from mslam_plugin.models.mslam_st import MSLAMSTConfig, MSLAMSTEncoder
from mslam_plugin.modules.conformer import MSLAMConvModule

REPO = Path(__file__).resolve().parents[1]
PUBLIC_ENCODER_PARAMETERS = 580_493_120  # facebook/w2v-bert-2.0
SMALL = dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=128,
             layerdrop=0.0, conv_depthwise_kernel_size=31, position_embeddings_type="relative_key",
             left_max_position_embeddings=64, right_max_position_embeddings=8)
SPEECH_LAYERS = 2
SMALL_HEADS = ("--codebook-size", "32", "--codebook-dim", "32", "--contrastive-dim", "32")
LENGTHS = [180, 118]  # filterbank frames: 90 and 59 stacked frames, the second one padded


@pytest.fixture(scope="module")
def small_hf(tmp_path_factory):
    """A small Wav2Vec2BertModel (every tensor perturbed, so no layer norm stays at 1/0)
    saved with save_pretrained, and its conversion with a 50-symbol text vocabulary."""
    torch.manual_seed(0)
    hf = Wav2Vec2BertModel(Wav2Vec2BertConfig(**SMALL)).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(0.05 * torch.randn_like(p))
    d = tmp_path_factory.mktemp("w2vbert2_small")
    hf.save_pretrained(d)
    out = d / "mslam.pt"
    model = convert_w2vbert2(d, out, text_vocab_size=50, speech_layers=SPEECH_LAYERS,
                             model_args=SMALL_HEADS)
    return hf, d, out, model


def _batch():
    torch.manual_seed(1)
    fbank = torch.randn(len(LENGTHS), max(LENGTHS), 80)
    padding_mask = torch.arange(max(LENGTHS))[None, :] >= torch.tensor(LENGTHS)[:, None]
    fbank = fbank.masked_fill(padding_mask[..., None], 0.0)
    stacked = fbank.reshape(len(LENGTHS), -1, 160)  # the extractor's 160-dim vectors
    attention = (torch.arange(stacked.size(1))[None, :] < torch.tensor(LENGTHS)[:, None] // 2)
    return fbank, padding_mask, stacked, attention.long()


def _assert_valid_close(ours, ref, attention, atol=1e-4):
    for i, n in enumerate(attention.sum(1).tolist()):
        err = (ours[i, :n] - ref[i, :n]).abs().max().item()
        assert err <= atol, f"item {i}: max |difference| {err:.2e}"


def test_converted_encoder_matches_hugging_face(small_hf):
    hf, _, _, model = small_hf
    fbank, padding_mask, stacked, attention = _batch()
    with torch.no_grad():
        ref = hf(stacked, attention_mask=attention, output_hidden_states=True)
        out = model.forward_speech(fbank, padding_mask)
    assert torch.equal(out.padding_mask, attention == 0)
    _assert_valid_close(out.context, ref.last_hidden_state, attention)
    _assert_valid_close(out.contrastive, ref.hidden_states[SPEECH_LAYERS], attention)
    _assert_valid_close(out.features, ref.extract_features, attention)  # quantizer input
    assert out.quantized.quantized.shape == (2, 90, 32)
    assert torch.equal(model.mask_embedding, hf.masked_spec_embed)


def test_checkpoint_serves_finetuning_and_continued_pretraining(small_hf):
    hf, _, path, model = small_hf
    state = checkpoint_utils.load_checkpoint_to_cpu(str(path))
    assert state["cfg"].model._name == "mslam_w2vbert2"
    assert state["cfg"].task.speech_features == "w2vbert2"
    rebuilt = MSLAMModel(state["cfg"].model, 50, 1)  # what --finetune-from-model loads into
    rebuilt.load_state_dict(state["model"], strict=True)
    # --load-pretrained-mslam-from: the mslam_st_w2vbert2 encoder, sized like the checkpoint
    ns = argparse.Namespace(**{k: v for k, v in state["cfg"].model.items() if k != "_name"},
                            decoder_embed_dim=SMALL["hidden_size"])
    ARCH_CONFIG_REGISTRY["mslam_st_w2vbert2"](ns)
    encoder = MSLAMSTEncoder(MSLAMSTConfig(**vars(ns)), 50, 1, ns.decoder_embed_dim).eval()
    encoder.load_pretrained(PretrainedEncoder.read(path))
    fbank, padding_mask, stacked, attention = _batch()
    with torch.no_grad():
        ref = hf(stacked, attention_mask=attention).last_hidden_state
        out = encoder(fbank, torch.tensor(LENGTHS))
    _assert_valid_close(out["encoder_out"][0].transpose(0, 1), ref, attention)


def test_cli_writes_the_same_checkpoint(small_hf, tmp_path):
    _, d, path, _ = small_hf
    main(["--hf-dir", str(d), "--out", str(tmp_path / "cli.pt"), "--text-vocab-size", "50",
          "--speech-layers", str(SPEECH_LAYERS), "--", *SMALL_HEADS])
    a = torch.load(path, weights_only=True)["model"]
    b = torch.load(tmp_path / "cli.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _waveform(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / 16000
    return (0.3 * torch.sin(2 * math.pi * 220 * t) + 0.1 * torch.sin(2 * math.pi * 1830 * t)
            + 0.05 * torch.randn(n, generator=g))


def test_features_equal_seamless_feature_extractor():
    waves = [_waveform(16000 + 160 * 7 + 37), _waveform(9000, seed=1)]  # 105 and 55 frames
    ref = SeamlessM4TFeatureExtractor()([w.numpy() for w in waves], sampling_rate=16000,
                                        return_tensors="pt")
    for i, wav in enumerate(waves):
        ours = w2vbert2_stacked_features(wav)
        n = int(ref["attention_mask"][i].sum())
        assert ours.shape == (n, 160) and kaldi_fbank(wav).size(0) // 2 == n
        err = (ours - ref["input_features"][i, :n]).abs().max().item()
        assert err <= 1e-3, f"waveform {i}: max |difference| {err:.2e}"


def test_cmvn_transform_equals_the_features():
    wav = _waveform(16000 + 160 * 7 + 37)
    stored = kaldi_fbank(wav).float().numpy()  # what a fbank80.zip holds
    np.testing.assert_allclose(W2VBert2CMVN()(stored), w2vbert2_fbank(wav).numpy(), atol=1e-4)


def test_full_size_encoder_has_the_public_parameter_count():
    ns = argparse.Namespace()
    ARCH_CONFIG_REGISTRY["mslam_w2vbert2"](ns)
    with torch.device("meta"):
        model = MSLAMModel(MSLAMConfig(**vars(ns)), 4102, 1)
        hf = Wav2Vec2BertModel(Wav2Vec2BertConfig())
    encoder = ("frontend.", "feature_norm.", "mask_embedding", "speech_encoder.", "multimodal_encoder.")
    ours = sum(p.numel() for n, p in model.named_parameters() if n.startswith(encoder))
    assert ours == sum(p.numel() for p in hf.parameters()) == PUBLIC_ENCODER_PARAMETERS


def test_conv_module_defaults_unchanged_and_causal_option():
    default = MSLAMConvModule(16, 5, 0.0, norm_groups=4).eval()
    assert default.depthwise.padding == (2,) and default.pointwise1.bias is not None
    causal = MSLAMConvModule(16, 5, 0.0, norm="layer", bias=False, causal=True).eval()
    assert all(m.bias is None for m in (causal.pointwise1, causal.depthwise, causal.pointwise2))
    x = torch.randn(1, 12, 16)
    y = x.clone()
    y[:, 7:] = torch.randn(1, 5, 16)  # the future of frame 6 changes
    with torch.no_grad():
        assert torch.allclose(causal(x, None)[:, :7], causal(y, None)[:, :7])
        assert not torch.allclose(default(x, None)[:, 5:7], default(y, None)[:, 5:7])


NEW_OPTIONS = ("conv_no_bias", "conv_causal", "shaw_max_left", "shaw_max_right",
               "speech_no_feature_norm", "speech_feature_dropout", "speech_quantizer_input")


def test_checkpoint_config_from_before_the_options_builds_the_same_model():
    ns = argparse.Namespace()
    ARCH_CONFIG_REGISTRY["mslam_tiny"](ns)
    old = {k: v for k, v in vars(MSLAMConfig(**vars(ns))).items() if k not in NEW_OPTIONS}
    cfg = OmegaConf.create({**old, "_name": "mslam_tiny", "text_vocab_size": 50})
    OmegaConf.set_struct(cfg, True)
    model = build_model(cfg, None)  # as load_model_ensemble_and_task rebuilds it
    conv = model.speech_encoder.layers[0].conv
    assert conv.depthwise.padding == (2,) and conv.pointwise1.bias is not None
    assert not isinstance(model.feature_norm, torch.nn.Identity)
    assert model.quantizer.weight_proj.in_features == 144


def _copy(small_hf, tmp_path):
    d = tmp_path / "hf"
    shutil.copytree(small_hf[1], d, ignore=shutil.ignore_patterns("*.pt"))
    return d


def _convert(d, tmp_path, **kwargs):
    kwargs = {"text_vocab_size": 50, "speech_layers": SPEECH_LAYERS,
              "model_args": SMALL_HEADS, **kwargs}
    return convert_w2vbert2(d, tmp_path / "out.pt", **kwargs)


def test_converter_errors_name_the_file_and_the_expectation(small_hf, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory.*huggingface-cli download"):
        _convert(tmp_path / "absent", tmp_path)
    (tmp_path / "conformer_shaw.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="fairseq2 checkpoints .* not supported"):
        _convert(tmp_path / "conformer_shaw.pt", tmp_path)
    d = _copy(small_hf, tmp_path)
    with pytest.raises(ValueError, match="expected the directory holding config.json"):
        _convert(d / "model.safetensors", tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps(dict(cfg, model_type="wav2vec2")))
    with pytest.raises(ValueError, match=r"config.json: expected a w2v-BERT 2.0 config"):
        _convert(d, tmp_path)
    (d / "config.json").write_text(json.dumps(dict(cfg, position_embeddings_type="rotary")))
    with pytest.raises(ValueError, match="`position_embeddings_type` must be 'relative_key'"):
        _convert(d, tmp_path)
    (d / "config.json").write_text(json.dumps(dict(cfg, hidden_size=128)))
    with pytest.raises(ValueError, match=r"frontend.proj.weight has shape \(64, 160\), but the "
                                         r"model built from config.json expects \(128, 160\)"):
        _convert(d, tmp_path)
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="`speech_layers` must be in \\[0, 4\\]"):
        _convert(d, tmp_path, speech_layers=5)
    with pytest.raises(ValueError, match="`char_vocab` or `text_vocab_size` must be given"):
        _convert(d, tmp_path, text_vocab_size=0)
    tensors = load_file(str(d / "model.safetensors"))
    del tensors["encoder.layers.3.conv_module.depthwise_conv.weight"]
    save_file(tensors, str(d / "model.safetensors"))
    with pytest.raises(KeyError, match="model.safetensors: 1 encoder tensors missing for the 4 "
                                       "layers of config.json, e.g. .*encoder.layers.3.conv_module"):
        _convert(d, tmp_path)
    (d / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="model.safetensors: not a safetensors file"):
        _convert(d, tmp_path)


def _pretraining_data(d: Path) -> None:
    """Four utterances (speech-only and paired) and five text lines, train = dev."""
    texts = ["hello world", "speech and text", "a small test", "one more line", "the end"]
    speech, paired = [], []
    for i in range(4):
        n = 16000 + 2400 * i + 37
        sf.write(d / f"u{i}.wav", _waveform(n, seed=i).numpy(), 16000)
        common = {"audio": f"u{i}.wav", "n_frames": num_fbank_frames(n), "speaker": "x"}
        speech.append({"id": f"s{i}", "lang": "en", **common})
        paired.append({"id": f"p{i}", "tgt_text": texts[i], "src_lang": "en", **common})
    for split in ("train", "dev"):
        write_manifest(d / f"speech_{split}.tsv", "speech", speech)
        write_manifest(d / f"paired_{split}.tsv", "paired", paired)
        write_manifest(d / f"text_{split}.tsv", "text", [
            {"id": f"t{i}", "text": t, "lang": "en", "source": "test"} for i, t in enumerate(texts)])
    build_char_vocab({"en": texts}).save(d / "dict.char.txt")


@pytest.mark.slow
def test_continued_pretraining_starts_from_the_converted_checkpoint(small_hf, tmp_path):
    _pretraining_data(tmp_path)
    ckpt = tmp_path / "mslam_w2vbert2.pt"
    convert_w2vbert2(small_hf[1], ckpt, char_vocab=tmp_path / "dict.char.txt",
                     speech_layers=SPEECH_LAYERS, model_args=SMALL_HEADS)
    size = ["--encoder-embed-dim", "64", "--encoder-ffn-embed-dim", "128",
            "--encoder-attention-heads", "4", "--speech-encoder-layers", "2",
            "--multimodal-encoder-layers", "2", *SMALL_HEADS]
    cmd = [str(Path(sys.executable).parent / "fairseq-train"), str(tmp_path),
           "--user-dir", str(REPO / "mslam_plugin"), "--task", "mslam_pretraining",
           "--arch", "mslam_w2vbert2", "--criterion", "mslam_pretraining",
           "--speech-features", "w2vbert2", *size, "--batch-size", "1",
           "--speech-sequences", "2", "--text-sequences", "2", "--paired-sequences", "2",
           "--batches-per-epoch", "2", "--optimizer", "adam", "--lr", "1e-4",
           "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "2", "--max-update", "2",
           "--finetune-from-model", str(ckpt), "--save-dir", str(tmp_path / "exp"), "--cpu",
           "--num-workers", "0", "--disable-validation", "--no-epoch-checkpoints"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert f"Loaded checkpoint {ckpt} (epoch 1 @ 0 updates)" in log, log[-3000:]
    assert (tmp_path / "exp" / "checkpoint_last.pt").is_file()
