"""Stored filterbanks extracted above 16 kHz (fairseq's CoVoST 2 preparation at 48 kHz)
are recognised by their empty top mel bins, and the fine-tuning task warns."""

import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import soundfile as sf
import torch
import torchaudio

from mslam_plugin.data.sample_rate_check import MAX_DROP, check_stored_features
from mslam_plugin.data.fbank import fbank_features


def _stored(tiny_corpus: Path, tmp_path: Path, rate: int) -> SimpleNamespace:
    paths = []
    for i, flac in enumerate(sorted(tiny_corpus.glob("audio/*/*.flac"))[:6]):
        wav = torch.from_numpy(sf.read(flac, dtype="float32")[0])
        if rate != 16000:
            wav = torchaudio.functional.resample(wav, 16000, rate)
        path = tmp_path / f"{rate}_{i}.npy"
        np.save(path, fbank_features(wav, rate).numpy())
        paths.append(str(path))
    return SimpleNamespace(audio_paths=paths, cfg=SimpleNamespace(use_audio_input=False))


def test_features_at_48khz_are_flagged_and_16khz_ones_are_not(tiny_corpus, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        drop16 = check_stored_features(_stored(tiny_corpus, tmp_path, 16000), "train_16k")
    assert drop16 > MAX_DROP and "train_16k" not in caplog.text
    with caplog.at_level(logging.WARNING):
        drop48 = check_stored_features(_stored(tiny_corpus, tmp_path, 48000), "train_48k")
    assert drop48 < MAX_DROP
    assert "train_48k" in caplog.text and "examples/covost2/prepare.sh" in caplog.text


def test_waveform_inputs_are_not_checked(tiny_corpus):
    flacs = [str(p) for p in sorted(tiny_corpus.glob("audio/*/*.flac"))[:2]]
    ds = SimpleNamespace(audio_paths=flacs, cfg=SimpleNamespace(use_audio_input=False))
    assert check_stored_features(ds, "train") is None  # computed at 16 kHz by the task
