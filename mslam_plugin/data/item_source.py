"""The rows of one kind of pre-training data (speech-only, text-only or paired): one
manifest or several shards of it, each through its memory-mapped index
(:class:`~mslam_plugin.data.manifest_index.ManifestIndex`).

Start-up reads no row and opens no audio file. The source numbers its rows language by
language across shards (row ``v`` of the source is row ``local`` of one shard), so a
language is a contiguous range ``starts[l]:starts[l + 1]`` and an item uniformly within it
costs O(log segments). A row is parsed, and its audio read and checked, only when loaded.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from . import manifest as mf
from .char_vocab import encode
from .manifest_index import ManifestIndex
from .sources import ReadSkips, load_fbank, report_unknown, speech_key

logger = logging.getLogger(__name__)


def shard_paths(path: Path) -> list[Path]:
    """The manifests of a kind: ``x.tsv`` itself, or for a list file ``x.list`` the
    manifests it names, one per line (relative to the list's directory; ``#`` comments
    and blank lines ignored)."""
    if path.suffix != ".list":
        return [path]
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        shard = Path(line) if Path(line).is_absolute() else path.parent / line
        if not shard.is_file():
            raise FileNotFoundError(f"{path}:{n}: manifest not found: {shard}")
        out.append(shard)
    if not out:
        raise ValueError(f"{path}: names no manifest")
    return out


class ItemSource:
    """Rows of one kind from ``path`` (a manifest, or a ``.list`` of shards), with their
    languages (``lang_names``, ``starts``), sizes and a loader. Speech longer than
    ``max_frames`` is never drawn (counted as ``too_long``); text is capped at
    ``max_chars``."""

    def __init__(self, path: Path, kind: str, dictionary, *, skip_invalid: bool = False,
                 max_frames: int = 3000, max_chars: int = 512, features: str = "fbank"):
        self.path, self.kind, self.dictionary = Path(path), kind, dictionary
        self.max_chars, self.max_frames, self.features = max_chars, max_frames, features
        self.shards = [ManifestIndex.open(p, kind, skip_invalid=skip_invalid)
                       for p in shard_paths(self.path)]
        self.stats: Counter = sum((Counter(s.skipped) for s in self.shards), Counter())
        self.skips = ReadSkips(skip_invalid)
        self._segments()
        self._count_usable()
        if kind != "speech":
            self._report_unknown()
        if self.stats or self.truncated:
            logger.info("%s: %d rows usable; filtered %s; texts truncated to %d chars: %d",
                        path, int(self.lang_counts.sum()), dict(self.stats), max_chars,
                        self.truncated)
        if not self.lang_counts.sum():
            raise ValueError(f"{path}: no usable rows")

    def _segments(self) -> None:
        """One segment per (language, shard): where it starts among the source's rows
        (``seg_first``), in its shard (``seg_shard``, ``seg_local``), and its length."""
        self.lang_names = sorted({name for s in self.shards for name in s.langs})
        pos = {name: i for i, name in enumerate(self.lang_names)}
        segs = sorted((pos[name], k, int(s.starts[j]), int(s.starts[j + 1] - s.starts[j]))
                      for k, s in enumerate(self.shards) for j, name in enumerate(s.langs)
                      if s.starts[j + 1] > s.starts[j])  # a language may have lost every row
        self.seg_lang, self.seg_shard, self.seg_local, length = (
            np.array([seg[c] for seg in segs], dtype=np.int64) for c in range(4))
        self.seg_first = np.concatenate([[0], np.cumsum(length)])
        self.starts = self.seg_first[np.searchsorted(self.seg_lang, np.arange(len(self.lang_names) + 1))]

    def _locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard, row within the shard) of source rows; one shard's index is already
        grouped by sorted language, so its rows are the source's."""
        if len(self.shards) == 1:
            return np.zeros(len(rows), dtype=np.int64), rows
        seg = np.searchsorted(self.seg_first, rows, side="right") - 1
        return self.seg_shard[seg], self.seg_local[seg] + rows - self.seg_first[seg]

    def _raw_sizes(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if len(self.shards) == 1:
            return self.shards[0].sizes[rows].astype(np.int64)
        shard, local = self._locate(rows)
        out = np.empty(len(local), dtype=np.int64)
        for k in np.unique(shard):
            at = shard == k
            out[at] = self.shards[k].sizes[local[at]]
        return out

    def _count_usable(self) -> None:
        self.truncated, too_long = 0, 0
        counts = np.zeros(len(self.lang_names), dtype=np.int64)
        for seg, lang in enumerate(self.seg_lang):
            sizes = self.shards[self.seg_shard[seg]].sizes
            part = sizes[self.seg_local[seg] : self.seg_local[seg] + self.seg_first[seg + 1]
                         - self.seg_first[seg]]
            if self.kind == "text":
                self.truncated += int((part > self.max_chars).sum())
                counts[lang] += len(part)
            else:
                usable = int((part <= self.max_frames).sum())
                counts[lang] += usable
                too_long += len(part) - usable
        if too_long:
            self.stats["too_long"] = too_long
        self.lang_counts = counts  # usable rows per language (lang_names order)
        self._usable_rows: dict[int, np.ndarray] = {}

    def _report_unknown(self, sample: int = 20000) -> None:
        col = "text" if self.kind == "text" else "tgt_text"
        picks = np.unique(np.linspace(0, len(self) - 1, min(len(self), sample)).astype(np.int64))
        texts = [self.row(int(i))[col] for i in picks]
        langs = [self.lang_names[j] for j in self.lang_of(picks)]
        self.unknown_share = report_unknown(self.path, texts, langs, self.dictionary)

    def __len__(self) -> int:
        return int(self.seg_first[-1])

    def lang_of(self, rows) -> np.ndarray:
        """Language positions (in ``lang_names``) of source rows."""
        return np.searchsorted(self.starts, np.asarray(rows), side="right") - 1

    @property
    def langs(self) -> np.ndarray:
        """Language name of every row (materialised: for small manifests and analysis)."""
        return np.array(self.lang_names)[self.lang_of(np.arange(len(self)))]

    def sizes_of(self, rows: np.ndarray) -> np.ndarray:
        """Sizes of rows: frames, or characters capped at ``max_chars``."""
        sizes = self._raw_sizes(rows)
        return np.minimum(sizes, self.max_chars) if self.kind == "text" else sizes

    def draw(self, lang_ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One usable row, uniformly within its language, for each entry of ``lang_ids``
        (positions in ``lang_names``), redrawing rows too long to use."""
        starts, ends = self.starts[lang_ids], self.starts[lang_ids + 1]
        rows = starts + (rng.random(len(lang_ids)) * (ends - starts)).astype(np.int64)
        if self.kind == "text":
            return rows
        for _ in range(32):
            bad = np.flatnonzero(self._raw_sizes(rows) > self.max_frames)
            if not len(bad):
                return rows
            rows[bad] = starts[bad] + (rng.random(len(bad)) * (ends - starts)[bad]).astype(np.int64)
        for j in np.flatnonzero(self._raw_sizes(rows) > self.max_frames):  # mostly too long
            lang = int(lang_ids[j])
            if lang not in self._usable_rows:
                span = np.arange(self.starts[lang], self.starts[lang + 1])
                self._usable_rows[lang] = span[self._raw_sizes(span) <= self.max_frames]
            rows[j] = rng.choice(self._usable_rows[lang])
        return rows

    def row(self, i: int) -> dict[str, str]:
        shard, local = self._locate(np.array([i]))
        return self.shards[int(shard[0])].row(int(local[0]))

    def tokens(self, text: str) -> torch.Tensor:
        ids = encode(self.dictionary, text)[: self.max_chars]
        return torch.tensor(ids, dtype=torch.long)

    def load(self, i: int) -> dict | None:
        """Row ``i`` as an item (None: its audio failed when read, with ``skip_invalid``)."""
        shard, local = self._locate(np.array([i]))
        index = self.shards[int(shard[0])]
        row = index.row(int(local[0]))
        item = {"id": row["id"], "lang": row["src_lang" if self.kind == "paired" else "lang"]}
        if self.kind != "text":
            speech = self.skips.load(i, lambda: load_fbank(
                mf.resolve_audio(row["audio"], index.path.parent),
                f"{index.path}:{index.lines[int(local[0])]}", self.features,
                int(row["n_frames"])))
            if speech is None:
                return None
            item[speech_key(self.features)] = speech
        if self.kind == "text":
            item["tokens"] = self.tokens(row["text"])
        elif self.kind == "paired":
            item["tokens"] = self.tokens(row["tgt_text"])
        return item
