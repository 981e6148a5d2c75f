"""Speech + transcript data for transducer ASR: a paired manifest (id, audio, n_frames,
tgt_text, speaker, src_lang) read into filterbanks (utterance-normalised, as in
pre-training) and grapheme ids."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import torch
from fairseq.data import FairseqDataset

from . import manifest as mf
from .char_vocab import encode
from .sources import (ReadSkips, collate_speech, collate_tokens, load_fbank, report_unknown,
                      speech_key)

logger = logging.getLogger(__name__)


class ASRDataset(FairseqDataset):
    def __init__(self, path, dictionary, *, max_frames: int | None = 3000,
                 skip_invalid: bool = False, shuffle: bool = True, seed: int = 1,
                 features: str = "fbank", placeholder: bool = False):
        m = mf.read_manifest(path, "paired", skip_invalid=skip_invalid)
        self.stats = Counter(m.skipped)
        rows, self.lines = [], []
        for row, line in zip(m.rows, m.lines):
            if max_frames and int(row["n_frames"]) > max_frames:
                self.stats["too_long"] += 1
                continue
            rows.append(row)
            self.lines.append(line)
        self.skips = ReadSkips(skip_invalid)
        if not rows:
            raise ValueError(f"{path}: no usable rows ({dict(self.stats)})")
        if self.stats:
            logger.info("%s: %d rows kept; filtered %s", path, len(rows), dict(self.stats))
        self.path, self.rows, self.dictionary = path, rows, dictionary
        self.targets = [torch.tensor(encode(dictionary, r["tgt_text"]), dtype=torch.long)
                        for r in rows]
        self.unknown_share = report_unknown(path, [r["tgt_text"] for r in rows],
                                            [r["src_lang"] for r in rows], dictionary)
        self.frames = np.array([int(r["n_frames"]) for r in rows], dtype=np.int64)
        self.shuffle, self.seed, self.epoch = shuffle, seed, 1
        self.features = features  # fbank, w2vbert2 or waveform (sources.load_fbank)
        self.placeholder = placeholder  # training: an all-skipped batch -> _placeholder()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict | None:
        """None for a row whose audio failed when read (with ``skip_invalid``)."""
        row = self.rows[index]
        speech = self.skips.load(index, lambda: load_fbank(
            mf.resolve_audio(row["audio"], self.path.parent), f"{self.path}:{self.lines[index]}",
            self.features, int(row["n_frames"])))
        return None if speech is None else {"id": index, speech_key(self.features): speech,
                                            "target": self.targets[index]}

    def __len__(self) -> int:
        return len(self.rows)

    def num_tokens(self, index: int) -> int:
        return int(self.frames[index])

    def size(self, index: int) -> int:
        return int(self.frames[index])

    @property
    def sizes(self):
        return self.frames

    def ordered_indices(self):
        """Longest first (tied lengths in a seeded random order when shuffling), so
        batches hold similar lengths; fairseq shuffles the batches themselves."""
        if self.shuffle:
            tie = np.random.RandomState([self.seed, self.epoch]).permutation(len(self))
        else:
            tie = np.arange(len(self))
        return np.lexsort([tie, -self.frames])

    def collater(self, samples: list[dict | None]) -> dict:
        samples = [s for s in samples if s is not None]
        if not samples:  # validation and decoding skip fairseq's empty batch
            return self._placeholder() if self.placeholder else {}
        key = speech_key(self.features)
        samples = sorted(samples, key=lambda s: -s[key].size(0))
        speech = collate_speech(samples)
        targets = [s["target"] for s in samples]
        if key == "wav":  # filterbanks are computed on the device (sources.device_fbank)
            net_input = {"src_wav": speech["wav"], "src_wav_lengths": speech["wav_lengths"]}
        else:
            net_input = {"src_tokens": speech["fbank"],
                         "src_lengths": (~speech["fbank_padding_mask"]).sum(1)}
        return {
            "id": torch.tensor([s["id"] for s in samples]),
            "net_input": net_input,
            "target": collate_tokens(targets, self.dictionary.pad()),
            "target_lengths": torch.tensor([len(t) for t in targets]),
            "ntokens": sum(len(t) for t in targets),
            "nsentences": len(samples),
        }

    def _placeholder(self) -> dict:
        """A batch every row of which was skipped when read: the first readable row,
        marked ``placeholder`` (the criterion gives it a zero loss and no weight). Not
        fairseq's empty batch: were it the epoch's first, fairseq would keep it as the
        "dummy" batch it substitutes for empty ones, and fail on the next."""
        for index in range(len(self)):
            item = self[index]
            if item is not None:
                return dict(self.collater([item]), placeholder=True, ntokens=0, nsentences=0)
        raise ValueError(f"{self.path}: every row's audio failed when read "
                         f"({dict(self.skips.counts)})")
