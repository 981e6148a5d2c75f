"""A memory-mapped index of a pre-training manifest: bounded memory and start-up at any
number of rows.

Built once by one pass over the manifest (each row's columns checked as
:mod:`~mslam_plugin.data.manifest` checks them, audio files left to the ``validate``
command and to read time), saved next to it as ``<manifest>.index/`` and rebuilt when the
manifest's size, modification time, inode or first and last 64 KiB change. It holds, per usable row, numpy arrays
memory-mapped read-only (shared by every loader worker, whatever their number):

* ``offsets`` (int64): the row's byte offset in the manifest, parsed only when loaded;
* ``lines`` (int64): its line number, for ``FILE:LINE`` messages;
* ``sizes`` (int32): ``n_frames`` for speech, characters for text;

with rows grouped by language, so language ``l`` is the contiguous range
``starts[l]:starts[l + 1]`` and sampling within it needs no per-row array. A manifest in
a read-only directory is indexed in memory instead (with a warning).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from array import array
from collections import Counter
from pathlib import Path

import numpy as np

from . import manifest as mf

logger = logging.getLogger(__name__)
VERSION = 1
ARRAYS = ("offsets", "lines", "sizes")


def _stamp(path: Path) -> dict:
    """What identifies the manifest's content: size, mtime, inode and a hash of its first
    and last 64 KiB (a copy that keeps size and mtime still differs there)."""
    st = path.stat()
    digest = hashlib.sha1()
    with path.open("rb") as f:
        digest.update(f.read(1 << 16))
        f.seek(max(0, st.st_size - (1 << 16)))
        digest.update(f.read())
    return {"version": VERSION, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "inode": st.st_ino, "edges": digest.hexdigest()}


def _scan(path: Path, kind: str) -> tuple[dict, dict]:
    """One pass over the manifest: (arrays in file order plus language ids, metadata)."""
    lang_col = "src_lang" if kind == "paired" else "lang"
    offsets, lines, sizes, lang_ids, hashes = (array(t) for t in "qqiiq")
    langs: dict[str, int] = {}
    skipped, first_error = Counter(), {}
    with path.open("rb") as f:
        raw = f.readline()
        header = mf.read_header(path, raw, kind)
        offset, line, root = len(raw), 1, path.parent
        for raw in f:
            line += 1
            try:
                row = mf.parse_row(path, line, raw, header, kind, root)
            except mf.ManifestError as err:
                skipped[err.reason] += 1
                first_error.setdefault(err.reason, (line, str(err)))
                offset += len(raw)
                continue
            offsets.append(offset)
            lines.append(line)
            sizes.append(len(row["text"]) if kind == "text" else int(row["n_frames"]))
            lang_ids.append(langs.setdefault(row[lang_col], len(langs)))
            hashes.append(hash(row["id"]))
            offset += len(raw)
    arrays = {"offsets": np.frombuffer(offsets, np.int64), "lines": np.frombuffer(lines, np.int64),
              "sizes": np.frombuffer(sizes, np.int32), "lang_ids": np.frombuffer(lang_ids, np.int32)}
    # duplicate ids by their 64-bit hashes (bounded memory): every later occurrence is invalid
    _, first = np.unique(np.frombuffer(hashes, np.int64), return_index=True)
    if len(first) < len(hashes):
        keep = np.zeros(len(hashes), dtype=bool)
        keep[first] = True
        dup = int(np.flatnonzero(~keep)[0])
        with path.open("rb") as f:
            f.seek(int(arrays["offsets"][dup]))
            uid = f.readline().decode("utf-8").split("\t")[header.index("id")]
        skipped["duplicate_id"] += int((~keep).sum())
        line = int(arrays["lines"][dup])
        first_error.setdefault("duplicate_id", (line, f"{path}:{line}: duplicate id {uid!r}"))
        arrays = {k: v[keep] for k, v in arrays.items()}
    meta = {"header": header, "langs": list(langs), "skipped": dict(skipped),
            "first_error": first_error}
    return arrays, meta


def _grouped(arrays: dict, meta: dict) -> tuple[dict, dict]:
    """Rows grouped by language (stable: file order within a language), languages sorted."""
    names = meta["langs"]
    rank = np.argsort(np.argsort(np.array(names, dtype=object)))  # old id -> sorted position
    ids = rank[arrays["lang_ids"]] if len(names) else arrays["lang_ids"]
    order = np.argsort(ids, kind="stable")
    counts = np.bincount(ids, minlength=len(names))
    out = {k: arrays[k][order] for k in ARRAYS}
    meta = dict(meta, langs=sorted(names), starts=[0] + np.cumsum(counts).tolist())
    return out, meta


class ManifestIndex:
    """Rows of one manifest: ``offsets``, ``lines``, ``sizes`` (memory-mapped arrays,
    grouped by language), ``langs`` (names, sorted), ``starts`` (len(langs) + 1 row
    offsets), ``skipped`` (invalid rows by reason) and :meth:`row`."""

    def __init__(self, path: Path, kind: str, arrays: dict, meta: dict):
        self.path, self.kind, self.header = path, kind, meta["header"]
        # plain ndarray views of the maps: numpy's memmap subclass slows every indexing
        self.offsets, self.lines, self.sizes = (np.asarray(arrays[k]) for k in ARRAYS)
        self.langs: list[str] = meta["langs"]
        self.starts = np.array(meta["starts"], dtype=np.int64)
        self.skipped = Counter(meta["skipped"])
        self.first_error: dict = meta["first_error"]
        self._file, self._pid = None, None

    @classmethod
    def open(cls, path: str | Path, kind: str, *, skip_invalid: bool = False) -> "ManifestIndex":
        """The index of ``path`` (built or rebuilt when needed). Invalid rows raise the
        first one's :class:`~mslam_plugin.data.manifest.ManifestError` unless
        ``skip_invalid``, which leaves them out (counted in ``skipped``)."""
        path = Path(path)
        if kind not in ("speech", "text", "paired"):
            raise ValueError(f"`kind` must be speech, text or paired, but is {kind!r} instead.")
        if not path.is_file():
            raise FileNotFoundError(f"{path}: manifest not found")
        where = path.with_name(path.name + ".index")
        index = cls._load(where, path, kind)
        if index is None:
            index = cls._build(where, path, kind)
        if index.skipped and not skip_invalid:  # the first invalid row in the file
            reason, (_, message) = min(index.first_error.items(), key=lambda kv: kv[1][0])
            raise mf.ManifestError.located(message, reason)
        mf.warn_skipped(path, index.skipped)
        return index

    @classmethod
    def _load(cls, where: Path, path: Path, kind: str) -> "ManifestIndex | None":
        try:
            meta = json.loads((where / "meta.json").read_text())
            if meta.get("stamp") != _stamp(path) or meta.get("kind") != kind:
                return None
            arrays = {k: np.load(where / f"{k}.npy", mmap_mode="r") for k in ARRAYS}
        except (OSError, ValueError):
            return None
        return cls(path, kind, arrays, meta)

    @classmethod
    def _build(cls, where: Path, path: Path, kind: str) -> "ManifestIndex":
        stamp = _stamp(path)
        arrays, meta = _grouped(*_scan(path, kind))
        meta = dict(meta, stamp=stamp, kind=kind)
        if stamp != _stamp(path):
            raise RuntimeError(f"{path} changed while it was being indexed: start again")
        tmp = where.with_name(f"{where.name}.tmp-{os.getpid()}")
        try:
            tmp.mkdir(parents=True, exist_ok=True)
            for k in ARRAYS:
                np.save(tmp / f"{k}.npy", arrays[k])
            (tmp / "meta.json").write_text(json.dumps(meta))
            if where.exists():
                shutil.rmtree(where, ignore_errors=True)
            os.rename(tmp, where)  # another rank may have won the race: use either
        except OSError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if not (where / "meta.json").is_file():
                logger.warning("%s: index not saved (%s); kept in memory", path, err)
                return cls(path, kind, arrays, meta)
        logger.info("%s: indexed %d rows in %d languages -> %s", path, len(arrays["sizes"]),
                    len(meta["langs"]), where)
        loaded = cls._load(where, path, kind)
        return loaded if loaded is not None else cls(path, kind, arrays, meta)

    def __len__(self) -> int:
        return len(self.sizes)

    def __getstate__(self) -> dict:  # spawned loader workers: no open file travels
        return {**self.__dict__, "_file": None, "_pid": None}

    def row(self, i: int) -> dict[str, str]:
        """Row ``i``'s columns, read from the manifest now (one open file per process)."""
        if self._pid != os.getpid():  # a forked loader worker opens its own handle
            self._file, self._pid = self.path.open("rb"), os.getpid()
        self._file.seek(int(self.offsets[i]))
        values = self._file.readline().decode("utf-8").rstrip("\r\n").split("\t")
        return dict(zip(self.header, values))
