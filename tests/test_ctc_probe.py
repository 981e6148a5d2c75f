"""The linear CTC representation probe (mslam_plugin/scoring/ctc_probe.py): it learns to
read characters from features that hold them and cannot from features that do not, it
reads every depth of an mSLAM encoder and of a fairseq wav2vec 2.0, and its command
writes the result of a corpus."""

import json
import subprocess
import sys

import torch

from mslam_plugin.scoring import ctc_probe


def _utterances(n, vocab, informative, seed=0, dim=16):
    """Character sequences and frames: each character held for 3 frames; informative
    frames carry a noisy code of their character, the others noise only."""
    codes = torch.randn(vocab, dim, generator=torch.Generator().manual_seed(0)) * 3
    gen = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for _ in range(n):
        y = torch.randint(1, vocab, (int(torch.randint(4, 9, (1,), generator=gen)),),
                          generator=gen).tolist()
        frames = torch.cat([codes[c].expand(3, dim) for c in y] + [torch.zeros(2, dim)])
        noise = torch.randn(frames.shape, generator=gen)
        xs.append(frames + noise if informative else noise * 3)
        ys.append(y)
    return xs, ys


def _cer(head, xs, ys):
    hyps = ctc_probe.greedy_ctc(head, xs, blank=0)
    text = lambda ids: "".join(chr(97 + i) for i in ids)
    return ctc_probe.cer([text(y) for y in ys], [text(h) for h in hyps])


def test_the_probe_reads_characters_that_the_features_hold_and_not_others():
    vocab = 8
    xs, ys = _utterances(60, vocab, informative=True)
    test_x, test_y = _utterances(30, vocab, informative=True, seed=1)
    head = ctc_probe.train_linear_ctc(xs, ys, vocab, blank=0, steps=600)
    assert _cer(head, test_x, test_y) < 30  # 17% measured
    noise_x, noise_y = _utterances(60, vocab, informative=False)
    head = ctc_probe.train_linear_ctc(noise_x, noise_y, vocab, blank=0, steps=600)
    assert _cer(head, *_utterances(30, vocab, informative=False, seed=1)) > 80


def test_mslam_extractor_gives_every_depth_of_the_encoder():
    from mslam_plugin.models.encoder import MSLAMEncoder
    from mslam_plugin.models.mslam import mslam_tiny
    from types import SimpleNamespace

    cfg = SimpleNamespace()
    mslam_tiny(cfg)
    torch.manual_seed(0)
    encoder = MSLAMEncoder(cfg, 20, 1).eval()
    wav = torch.randn(16000) * 0.1
    layers = ctc_probe.mslam_extractor(encoder)(wav)
    assert len(layers) == 1 + cfg.speech_encoder_layers + cfg.multimodal_encoder_layers
    assert all(x.shape == (25, cfg.encoder_embed_dim) for x in layers)  # 40 ms frames
    fbank = ctc_probe.features_of(wav, "fbank")[None]
    with torch.no_grad():
        out = encoder.encode_speech(fbank, torch.zeros(fbank.shape[:2], dtype=torch.bool))
    assert torch.allclose(layers[cfg.speech_encoder_layers], out.contrastive[0], atol=1e-5)
    assert torch.allclose(layers[-1], out.context[0], atol=1e-5)


def test_wav2vec2_extractor_gives_the_cnn_features_then_every_layer():
    from fairseq.models.wav2vec.wav2vec2 import Wav2Vec2Config, Wav2Vec2Model

    cfg = Wav2Vec2Config(encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                         encoder_attention_heads=2, conv_feature_layers="[(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16, 2, 2)] * 2",
                         final_dim=16, conv_pos=16, conv_pos_groups=4)
    model = Wav2Vec2Model(cfg).eval()
    layers = ctc_probe.wav2vec2_extractor(model)(torch.randn(16000) * 0.1)
    assert [tuple(x.shape) for x in layers] == [(49, 16), (49, 32), (49, 32)]  # 20 ms frames


def test_fbank_control_stacks_four_frames():
    layers = ctc_probe.fbank_extractor()(torch.randn(16000) * 0.1)
    assert len(layers) == 1 and layers[0].shape == (24, 320)


def test_probe_command_on_a_corpus(tiny_corpus, tmp_path):
    out = tmp_path / "fbank.json"
    proc = subprocess.run([sys.executable, "-m", "mslam_plugin.cli.probe", "--data",
                           str(tiny_corpus), "--fbank", "--per-lang", "2", "--steps", "20",
                           "--out", str(out)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["train_rows"] == 4 and result["test_rows"] == 2  # 2 languages
    assert result["best_layer"] == 0 and 0 <= result["test_cer"] and len(result["dev_cer"]) == 1
    assert set(result["test_cer_per_lang"]) == {"de", "ko"}
    missing = subprocess.run([sys.executable, "-m", "mslam_plugin.cli.probe", "--data",
                              str(tmp_path), "--fbank", "--out", str(out)],
                             capture_output=True, text=True, check=False)
    assert missing.returncode == 2 and "paired_train.tsv: not found" in missing.stderr
