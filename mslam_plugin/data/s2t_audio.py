"""Audio files (not only filterbank zips) in fairseq speech_to_text manifests.

fairseq 0.12 reads a manifest's ``.wav`` / ``.flac`` / ``.ogg`` paths through
``convert_waveform``, which imports ``torchaudio.sox_effects``: torchaudio 2.9 no longer
has it, so every raw-audio manifest fails with "Please install torchaudio". The datasets
here read such paths with the package's checked reader, under the rule of every task:
16 kHz mono, decodable, finite, at least one filterbank frame long (or it is
``MANIFEST:LINE: reason``, or with ``--skip-invalid`` skipped and counted, as in
pre-training and ASR), and compute the same 80-dim Kaldi filterbanks fairseq's
preparation stores (or return the waveform when the config sets ``use_audio_input``);
stored features (``.npy``, zip references) still go through fairseq.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from fairseq.data.audio.speech_to_text_dataset import (SpeechToTextDataset,
                                                       SpeechToTextMultitaskDataset)

from . import manifest as mf
from .fbank import fbank_features
from .sources import ReadSkips, read_audio


def _is_audio_file(path: str) -> bool:
    return not mf._is_zip_ref(path) and not path.endswith(".npy")


class _SkippedRow(Exception):
    """A row whose audio failed when read, skipped with ``--skip-invalid``."""


class _ReadsAudioFiles:
    def _get_source_audio(self, index):
        if not isinstance(index, (int, np.integer)) or not _is_audio_file(self.audio_paths[index]):
            return super()._get_source_audio(index)
        where = getattr(self, "locations", {}).get(self.ids[index]) \
            or f"{self.split}.tsv, id {self.ids[index]}"
        skips = getattr(self, "skips", None) or ReadSkips(False)
        wav = skips.load(index, lambda: read_audio(self.audio_paths[index], where))
        if wav is None:
            raise _SkippedRow
        if self.cfg.use_audio_input:
            source = wav.float()
            if self.cfg.standardize_audio:
                with torch.no_grad():
                    source = F.layer_norm(source, source.shape)
            return source
        source = fbank_features(wav).numpy()
        if self.feature_transforms is not None:
            source = self.feature_transforms(source)
        return torch.from_numpy(source).float()

    def __getitem__(self, index):
        """fairseq's item, or None for a row skipped when read (``--skip-invalid``)."""
        try:
            return super().__getitem__(index)
        except _SkippedRow:
            return None

    def collater(self, samples, *args, **kwargs):
        return super().collater([s for s in samples if s is not None], *args, **kwargs)


class SpeechToTextDatasetWithAudioFiles(_ReadsAudioFiles, SpeechToTextDataset):
    pass


class SpeechToTextMultitaskDatasetWithAudioFiles(_ReadsAudioFiles, SpeechToTextMultitaskDataset):
    pass


def _with_state_of(cls, dataset):
    new = cls.__new__(cls)
    new.__dict__.update(dataset.__dict__)
    return new


def reads_audio_files(dataset):
    """A dataset of the same state that reads audio-file paths itself."""
    if isinstance(dataset, SpeechToTextMultitaskDataset):
        return _with_state_of(SpeechToTextMultitaskDatasetWithAudioFiles, dataset)
    if isinstance(dataset, SpeechToTextDataset):
        return _with_state_of(SpeechToTextDatasetWithAudioFiles, dataset)
    if hasattr(dataset, "datasets"):  # several comma-separated splits: a ConcatDataset
        dataset.datasets = [reads_audio_files(d) for d in dataset.datasets]
    return dataset
