"""Per-kind item sources for pre-training: speech-only, text-only and paired manifests
turned into loadable, collatable items (mSLAM section 3.2 data).

Speech is read from the audio file and turned into 80-dim Kaldi filterbanks with
utterance-level mean/variance normalisation (``fbank``), or into the features of the
public w2v-BERT 2.0 encoder (``w2vbert2``, for models converted from it); text becomes
character ids of the shared vocabulary, capped at ``max_chars`` characters.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ..modules.speech_frontend import fbank_features
from . import manifest as mf
from .char_vocab import encode
from .w2vbert2_features import w2vbert2_fbank

logger = logging.getLogger(__name__)
SPEECH_FEATURES = ("fbank", "w2vbert2")


def _read_wav(path: Path, where: str) -> torch.Tensor:
    wav, rate = sf.read(str(path), dtype="float32", always_2d=False)
    if rate != mf.SAMPLE_RATE or wav.ndim != 1:
        raise ValueError(f"{where or path}: {path} must be 16 kHz mono")
    return torch.from_numpy(wav)


def load_fbank_raw(path: Path, where: str = "") -> torch.Tensor:
    """(T, 80) Kaldi filterbanks of a 16 kHz mono file."""
    return fbank_features(_read_wav(path, where))


def load_fbank(path: Path, where: str, features: str = "fbank") -> torch.Tensor:
    """(T, 80) utterance-normalised filterbanks of a 16 kHz mono file: ``fbank``, or
    ``w2vbert2`` (mslam_plugin.data.w2vbert2_features: T even)."""
    if features == "w2vbert2":
        return w2vbert2_fbank(_read_wav(path, where))
    if features != "fbank":
        raise ValueError(f"`speech_features` must be one of {SPEECH_FEATURES}, but is "
                         f"{features!r} instead.")
    feats = load_fbank_raw(path, where)
    return (feats - feats.mean(0)) / feats.std(0).clamp(min=1e-5)


class ItemSource:
    """Rows of one manifest with their languages, sizes and a loader."""

    def __init__(self, path: Path, kind: str, dictionary, *, skip_invalid: bool = False,
                 max_frames: int = 3000, max_chars: int = 512, features: str = "fbank"):
        if kind not in ("speech", "text", "paired"):
            raise ValueError(f"`kind` must be speech, text or paired, but is {kind!r} instead.")
        self.path, self.kind, self.dictionary = path, kind, dictionary
        self.max_chars, self.features = max_chars, features
        m = mf.read_manifest(path, kind, skip_invalid=skip_invalid)
        self.stats: Counter = Counter(m.skipped)
        rows = []
        for row in m.rows:
            if kind != "text" and int(row["n_frames"]) > max_frames:
                self.stats["too_long"] += 1
                continue
            rows.append(row)
        self.rows = rows
        self.lang_col = {"speech": "lang", "text": "lang", "paired": "src_lang"}[kind]
        self.langs = np.array([r[self.lang_col] for r in rows])
        self.sizes = np.array([self._size(r) for r in rows], dtype=np.int64)
        self.truncated = int(sum(1 for r in rows if kind == "text" and len(r["text"]) > max_chars))
        if self.stats or self.truncated:
            logger.info("%s: %d rows kept; filtered %s; texts truncated to %d chars: %d",
                        path, len(rows), dict(self.stats), max_chars, self.truncated)
        if not rows:
            raise ValueError(f"{path}: no usable rows")

    def _size(self, row) -> int:
        return int(row["n_frames"]) if self.kind != "text" else min(len(row["text"]), self.max_chars)

    def __len__(self) -> int:
        return len(self.rows)

    def tokens(self, text: str) -> torch.Tensor:
        ids = encode(self.dictionary, text)[: self.max_chars]
        return torch.tensor(ids, dtype=torch.long)

    def load(self, i: int) -> dict:
        row = self.rows[i]
        item = {"id": row["id"], "lang": row[self.lang_col]}
        if self.kind != "text":
            item["fbank"] = load_fbank(mf.resolve_audio(row["audio"], self.path.parent),
                                       f"{self.path} row {row['id']}", self.features)
        if self.kind == "text":
            item["tokens"] = self.tokens(row["text"])
        elif self.kind == "paired":
            item["tokens"] = self.tokens(row["tgt_text"])
        return item


def collate_speech(items: list[dict]) -> dict:
    lengths = torch.tensor([it["fbank"].size(0) for it in items])
    fbank = torch.zeros(len(items), int(lengths.max()), items[0]["fbank"].size(1))
    for i, it in enumerate(items):
        fbank[i, : lengths[i]] = it["fbank"]
    padding_mask = torch.arange(fbank.size(1))[None, :] >= lengths[:, None]
    return {"fbank": fbank, "fbank_padding_mask": padding_mask}


def collate_tokens(seqs: list[torch.Tensor], pad: int) -> torch.Tensor:
    out = torch.full((len(seqs), max(len(s) for s in seqs)), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out
