"""Filterbanks on the training device (--fbank-on-device): the batched implementation
equals torchaudio's Kaldi filterbank utterance by utterance, loaders hand over waveforms,
the tasks turn them into the CPU path's features before anything reads the batch, and
training follows the CPU path's losses."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mslam_plugin.data.asr_dataset import ASRDataset
from mslam_plugin.data.graphemes import load_grapheme_dictionary
from mslam_plugin.data.sources import WAVEFORM, collate_speech, device_fbank, load_fbank
from mslam_plugin.data.fbank import batched_fbank, fbank_features, normalise_utterances, num_frames
from mslam_plugin.tasks.common import DeviceFeaturesMixin, loader_features

REPO = Path(__file__).resolve().parents[1]
# 400 samples is exactly one frame, 399 none; the others end mid-shift
LENGTHS = [16000 * 2 + 123, 400, 399, 16000, 400 + 160 * 7, 559, 8000]


def _batch(device="cpu"):
    gen = torch.Generator().manual_seed(0)
    lengths = torch.tensor(LENGTHS)
    wav = torch.zeros(len(LENGTHS), max(LENGTHS))
    for i, n in enumerate(LENGTHS):  # speech-like: a tone under noise, some DC offset
        t = torch.arange(n) / 16000
        wav[i, :n] = (0.3 * torch.sin(2 * torch.pi * (150 + 40 * i) * t)
                      + 0.05 * torch.randn(n, generator=gen) + 0.01)
    return wav.to(device), lengths.to(device)


def _check_against_kaldi(feats, mask, wav, lengths, normalised=False):
    wav, lengths, feats, mask = wav.cpu(), lengths.cpu(), feats.cpu(), mask.cpu()
    assert torch.equal((~mask).sum(1), num_frames(lengths))
    for i, n in enumerate(lengths.tolist()):
        if n < 400:
            assert mask[i].all() and (feats[i] == 0).all()
            continue
        ref = fbank_features(wav[i, :n])
        if normalised:
            ref = (ref - ref.mean(0)) / ref.std(0).clamp(min=1e-5)
        got = feats[i, : ref.size(0)]
        assert got.shape == ref.shape
        assert (got - ref).abs().max() < 1e-3, (i, (got - ref).abs().max())
        assert (feats[i, ref.size(0):] == 0).all()


def test_batched_fbank_equals_torchaudio_kaldi_per_utterance():
    wav, lengths = _batch()
    feats, mask = batched_fbank(wav, lengths)
    assert feats.shape == (len(LENGTHS), int(num_frames(lengths).max()), 80)
    _check_against_kaldi(feats, mask, wav, lengths)
    keep = lengths >= 560  # the CPU normalisation needs two frames for its std
    _check_against_kaldi(normalise_utterances(feats, mask)[keep], mask[keep], wav[keep],
                         lengths[keep], normalised=True)


def test_padding_does_not_change_an_utterance():
    wav, lengths = _batch()
    alone, _ = batched_fbank(wav[3:4, : lengths[3]], lengths[3:4])
    batched, _ = batched_fbank(wav, lengths)
    assert torch.equal(alone[0], batched[3, : alone.size(1)])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_features_equal_the_cpu_kaldi_features():
    wav, lengths = _batch("cuda")
    feats, mask = batched_fbank(wav, lengths)
    assert feats.is_cuda
    _check_against_kaldi(feats, mask, wav, lengths)


class _Recorder:
    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        return sample

    def valid_step(self, sample, model, criterion):
        return sample


class _Task(DeviceFeaturesMixin, _Recorder):
    pass


def test_tasks_turn_waveforms_into_features_before_the_step():
    wav, lengths = _batch()
    sample = {"speech": {"wav": wav, "wav_lengths": lengths, "langs": ["de"] * 7},
              "net_input": {"src_wav": wav, "src_wav_lengths": lengths}, "ntokens": 3}
    task = _Task()
    bf16_model = torch.nn.Linear(2, 2).to(torch.bfloat16)  # as under fairseq's --bf16
    for out in (task.train_step(sample, bf16_model, None, None, 0),
                task.valid_step(sample, bf16_model, None)):
        assert set(out["speech"]) == {"fbank", "fbank_padding_mask", "langs"}
        assert out["speech"]["fbank"].dtype == out["net_input"]["src_tokens"].dtype == torch.bfloat16
        assert set(out["net_input"]) == {"src_tokens", "src_lengths"}
        assert torch.equal(out["net_input"]["src_lengths"], num_frames(lengths))
        assert out["ntokens"] == 3
    assert "wav" in sample["speech"]  # the loader's batch is not modified in place


def test_waveforms_travel_as_int16_and_give_the_same_features():
    """fairseq casts a batch's float tensors to bf16 / fp16 before the step: waveforms
    travel as int16 sample values, which it leaves alone (exact for 16-bit audio)."""
    wav, lengths = _batch()
    wav = (wav * 32768).round() / 32768  # 16-bit audio, as read from a 16-bit FLAC
    items = [{"wav": wav[i, :n]} for i, n in enumerate(LENGTHS)]
    batch = collate_speech(items)
    assert batch["wav"].dtype == torch.int16
    feats = device_fbank(batch)
    keep = lengths >= 560
    _check_against_kaldi(feats["fbank"][keep], feats["fbank_padding_mask"][keep], wav[keep],
                         lengths[keep], normalised=True)


def test_fbank_on_device_needs_fbank_features():
    class Cfg:
        fbank_on_device, speech_features = True, "w2vbert2"
    with pytest.raises(ValueError, match="--fbank-on-device"):
        loader_features(Cfg)
    Cfg.speech_features = "fbank"
    assert loader_features(Cfg) == WAVEFORM


def test_asr_batches_from_waveforms_equal_cpu_features(tiny_corpus):
    graphemes = load_grapheme_dictionary(tiny_corpus / "dict.grapheme.txt")
    kw = dict(max_frames=None, shuffle=False)
    cpu = ASRDataset(tiny_corpus / "paired_dev.tsv", graphemes, **kw)
    wav = ASRDataset(tiny_corpus / "paired_dev.tsv", graphemes, features=WAVEFORM, **kw)
    assert torch.equal(load_fbank(cpu.path.parent / cpu.rows[0]["audio"], "x"), cpu[0]["fbank"])
    a = cpu.collater([cpu[i] for i in range(len(cpu))])
    b = device_fbank(wav.collater([wav[i] for i in range(len(wav))]))
    assert torch.equal(a["id"], b["id"]) and torch.equal(a["target"], b["target"])
    assert torch.equal(a["net_input"]["src_lengths"], b["net_input"]["src_lengths"])
    assert (a["net_input"]["src_tokens"] - b["net_input"]["src_tokens"]).abs().max() < 1e-3


def _losses(data: Path, save_dir: Path, *extra: str) -> list[float]:
    cmd = [str(Path(sys.executable).parent / "fairseq-train"), str(data),
           "--user-dir", str(REPO / "mslam_plugin"), "--task", "mslam_pretraining",
           "--arch", "mslam_tiny", "--criterion", "mslam_pretraining", "--batch-size", "1",
           "--speech-sequences", "2", "--text-sequences", "2", "--paired-sequences", "2",
           "--batches-per-epoch", "3", "--dropout", "0.0", "--optimizer", "adam",
           "--lr", "5e-4", "--max-update", "3", "--no-save", "--disable-validation",
           "--log-interval", "1", "--log-format", "json", "--save-dir", str(save_dir),
           "--cpu", "--num-workers", "0", "--seed", "3", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "train_inner" in line]
    return [float(json.loads(line[line.index("{"):])["loss"]) for line in lines]


def test_pretraining_with_fbank_on_device_follows_the_cpu_losses(tiny_corpus, tmp_path):
    cpu = _losses(tiny_corpus, tmp_path / "cpu")
    device = _losses(tiny_corpus, tmp_path / "device", "--fbank-on-device")
    assert len(cpu) == len(device) == 3
    assert device == pytest.approx(cpu, rel=1e-3)
