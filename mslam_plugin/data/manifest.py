"""Manifest formats and their validation (formats documented in manifests/README.md).

Every manifest is a tab-separated file with a header row, as fairseq's speech_to_text
data is. A bad row raises :class:`ManifestError` naming the file and line; training
readers may instead pass ``skip_invalid=True``, which skips such rows and counts them by
reason. Audio must already be 16 kHz mono: the validator refuses other audio rather than
resampling silently (the preparation scripts resample when they write).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from .audio import SAMPLE_RATE

logger = logging.getLogger(__name__)

COLUMNS = {
    "speech": ("id", "audio", "n_frames", "speaker", "lang"),
    "text": ("id", "text", "lang", "source"),
    "paired": ("id", "audio", "n_frames", "tgt_text", "speaker", "src_lang"),
    "st": ("id", "audio", "n_frames", "tgt_text", "speaker", "src_text", "src_lang",
           "tgt_lang"),
    "mt": ("id", "src_text", "tgt_text", "src_lang", "tgt_lang"),
}
# fairseq's own speech_to_text manifests (its CoVoST 2 preparation) hold only these
REQUIRED = {**COLUMNS, "st": ("id", "audio", "n_frames", "tgt_text")}
NONEMPTY = {"speech": (), "text": ("text",), "paired": ("tgt_text",), "st": ("tgt_text",),
            "mt": ("src_text", "tgt_text")}


def kind_of(path: str | Path) -> str | None:
    """Manifest kind from a file name: ``<kind>_<split>.tsv``, or fairseq speech_to_text's
    ``<split>_st.tsv`` for speech translation (its task wants split names ``train*``)."""
    stem = Path(path).name.removesuffix(".tsv")
    if stem.endswith("_st"):
        return "st"
    kind = stem.split("_")[0]
    return kind if kind in COLUMNS else None


class ManifestError(ValueError):
    """A manifest problem, located as ``file:line: message``."""

    def __init__(self, path: Path, line: int, message: str, reason: str = "invalid"):
        super().__init__(f"{path}:{line}: {message}")
        self.reason = reason

    @classmethod
    def located(cls, text: str, reason: str) -> "ManifestError":
        """The error of an already located ``file:line: message`` text."""
        err = cls.__new__(cls)
        ValueError.__init__(err, text)
        err.reason = reason
        return err


@dataclass
class Manifest:
    path: Path
    kind: str
    rows: list[dict[str, str]] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    lines: list[int] = field(default_factory=list)  # each row's line in the file


def num_fbank_frames(n_samples: int, sample_rate: int = SAMPLE_RATE) -> int:
    """10 ms frames of a 25 ms window (Kaldi fbank with snip_edges), fairseq's n_frames."""
    win, hop = sample_rate * 25 // 1000, sample_rate * 10 // 1000
    return 0 if n_samples < win else 1 + (n_samples - win) // hop


def resolve_audio(audio: str, root: Path) -> Path:
    """Path of an audio column: absolute, or relative to the manifest's audio root."""
    path = Path(audio.rsplit(":", 2)[0] if _is_zip_ref(audio) else audio)
    return path if path.is_absolute() else root / path


def _is_zip_ref(audio: str) -> bool:
    parts = audio.rsplit(":", 2)
    return len(parts) == 3 and parts[0].endswith(".zip") and all(
        p.isdigit() for p in parts[1:])


FRAME_TOLERANCE = 0.02  # n_frames may differ from the audio by 2% (and 2 frames)


def check_audio(path: Path, line: int, audio: str, root: Path, n_frames: str | None = None,
                exists_only: bool = False) -> None:
    """Raise ManifestError unless ``audio`` is a readable 16 kHz mono file long enough for
    one filterbank frame whose length agrees with ``n_frames`` (when given); with
    ``exists_only``, unless the file (or zip slice) exists."""
    where = resolve_audio(audio, root)
    if not where.is_file():
        raise ManifestError(path, line, f"audio file not found: {where}", "audio_missing")
    if _is_zip_ref(audio):  # fairseq's fbank80.zip:offset:length
        _, offset, length = audio.rsplit(":", 2)
        if int(offset) + int(length) > where.stat().st_size or int(length) == 0:
            raise ManifestError(path, line, f"zip slice out of range: {audio}", "audio_unreadable")
        return
    if exists_only:
        return
    try:
        info = sf.info(str(where))
    except (RuntimeError, sf.LibsndfileError) as err:
        raise ManifestError(path, line, f"audio file unreadable: {where} ({err})",
                            "audio_unreadable") from None
    if info.frames == 0:
        raise ManifestError(path, line, f"audio file is empty: {where}", "audio_empty")
    if info.channels != 1:
        raise ManifestError(path, line, f"audio must be mono, but {where} has "
                            f"{info.channels} channels", "audio_not_mono")
    if info.samplerate != SAMPLE_RATE:
        raise ManifestError(path, line, f"audio must be {SAMPLE_RATE} Hz, but {where} is "
                            f"{info.samplerate} Hz (resample it, e.g. sox -r 16000)",
                            "audio_sample_rate")
    problem = length_problem(where, info.frames,
                             int(n_frames) if n_frames is not None and n_frames.isdigit() else None)
    if problem:
        raise ManifestError(path, line, *problem)


def length_problem(where: Path, n_samples: int, n_frames: int | None) -> tuple[str, str] | None:
    """(message, reason) when audio of ``n_samples`` is too short for one filterbank frame
    or disagrees with the manifest's ``n_frames`` by more than the tolerance; else None.
    Checked at start-up (from the file header) and again when the audio is read."""
    frames = num_fbank_frames(n_samples)
    if frames == 0:
        return (f"audio too short for one 25 ms filterbank frame: {where} has {n_samples} "
                "samples", "audio_too_short")
    if n_frames is not None and abs(n_frames - frames) > FRAME_TOLERANCE * frames + 2:
        return (f"n_frames is {n_frames}, but {where} gives {frames} frames "
                f"({n_samples / SAMPLE_RATE:.2f} s)", "n_frames_mismatch")
    return None


def _check_row(path: Path, line: int, kind: str, row: dict[str, str], root: Path,
               check_audio_files: bool | str) -> None:
    for col in NONEMPTY[kind]:
        if not row[col].strip():
            raise ManifestError(path, line, f"empty {col}", f"empty_{col}")
    if "n_frames" in row and not (row["n_frames"].isdigit() and int(row["n_frames"]) > 0):
        raise ManifestError(path, line, f"n_frames must be a positive integer, but is "
                            f"{row['n_frames']!r} instead", "bad_n_frames")
    if "audio" in row and check_audio_files:
        check_audio(path, line, row["audio"], root, row.get("n_frames"),
                    exists_only=check_audio_files == "exists")


def _decode(path: Path, line: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ManifestError(path, line, f"not UTF-8: byte 0x{raw[err.start]:02x} at column "
                            f"{len(raw[:err.start].decode('utf-8', 'replace')) + 1}",
                            "not_utf8") from None


def _require_columns(path: Path, header: list[str], required, what: str = "") -> None:
    missing = [c for c in required if c not in header]
    if missing:
        raise ManifestError(path, 1, f"header lacks column(s) {', '.join(missing)}{what}",
                            "bad_header")


def _values(path: Path, line: int, text: str, width: int) -> list[str]:
    """The tab-separated values of a data line: ``width`` of them, or [] for an empty line."""
    values = text.rstrip("\r\n").split("\t")
    if values == [""]:
        return []
    if len(values) != width:
        raise ManifestError(path, line, f"expected {width} columns, found {len(values)}",
                            "column_count")
    return values


def read_header(path: Path, raw: bytes, kind: str) -> list[str]:
    """Column names of a manifest's first line, which must hold the kind's columns."""
    header = _decode(path, 1, raw).rstrip("\r\n").split("\t")
    _require_columns(path, header, REQUIRED[kind], f" for a {kind} manifest")
    return header


def parse_row(path: Path, line: int, raw: bytes, header: list[str], kind: str, root: Path,
              check_audio_files: bool | str = False) -> dict[str, str]:
    """One data line as a row, checked (:func:`read_manifest`'s checks but duplicates)."""
    values = _values(path, line, _decode(path, line, raw), len(header))
    if not values:
        raise ManifestError(path, line, "empty line", "empty_line")
    row = dict(zip(header, values))
    _check_row(path, line, kind, row, root, check_audio_files)
    return row


def read_manifest(path: str | Path, kind: str, *, skip_invalid: bool = False,
                  check_audio_files: bool | str = True, audio_root: str | Path | None = None
                  ) -> Manifest:
    """Read and validate a manifest of ``kind`` (one of :data:`COLUMNS`). Audio files are
    opened and checked (``check_audio_files=True``), only looked for (``"exists"``), or
    left alone (False)."""
    path = Path(path)
    if kind not in COLUMNS:
        raise ValueError(f"`kind` must be one of {sorted(COLUMNS)}, but is {kind!r} instead.")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found")
    root = Path(audio_root) if audio_root is not None else path.parent
    manifest = Manifest(path, kind)
    seen: set[str] = set()
    with path.open("rb") as f:
        header = read_header(path, f.readline(), kind)
        for line, raw in enumerate(f, start=2):
            try:
                row = parse_row(path, line, raw, header, kind, root, check_audio_files)
                if row["id"] in seen:
                    raise ManifestError(path, line, f"duplicate id {row['id']!r}",
                                        "duplicate_id")
            except ManifestError as err:
                if not skip_invalid:
                    raise
                manifest.skipped[err.reason] += 1
                continue
            seen.add(row["id"])
            manifest.rows.append(row)
            manifest.lines.append(line)
    warn_skipped(path, manifest.skipped)
    return manifest


def warn_skipped(path: Path, skipped: Counter) -> None:
    """One warning line for the invalid rows left out of a manifest, counted by reason."""
    if skipped:
        logger.warning("%s: skipped %d invalid row(s): %s", path, sum(skipped.values()),
                       dict(skipped))


def read_tsv(path: str | Path, required: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Rows of any tab-separated file with a header line (a corpus's own TSV, a generated
    split), unvalidated: no quoting, blank lines skipped. A missing ``required`` column or
    a row of another width raises :class:`ManifestError` naming the file and line.
    Manifests are read with :func:`read_manifest`, which validates them."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found")
    with path.open(encoding="utf-8", newline="") as f:
        header = f.readline().rstrip("\r\n").split("\t")
        _require_columns(path, header, required)
        rows = []
        for line, raw in enumerate(f, start=2):
            values = _values(path, line, raw, len(header))
            if values:  # a blank line is no row
                rows.append(dict(zip(header, values)))
    return rows


def write_tsv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    """Write rows with these columns, atomically (a ``.tmp`` file renamed over ``path``);
    refuses values holding tabs or newlines."""
    lines = ["\t".join(columns)]
    for n, row in enumerate(rows):
        values = [str(row[c]) for c in columns]
        if any(("\t" in v or "\n" in v) for v in values):
            raise ValueError(f"{path}: row {row.get('id', n)!r} holds a tab or newline")
        lines.append("\t".join(values))
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


def write_manifest(path: Path, kind: str, rows: list[dict[str, str]]) -> None:
    """Write rows with the kind's columns (:func:`write_tsv`)."""
    write_tsv(path, COLUMNS[kind], rows)


def write_shard_lists(out: Path, kind: str) -> None:
    """``OUT/<kind>_<split>.list`` naming every ``<kind>_<split>_*.tsv`` shard in OUT (the
    pre-training task reads a list as one kind)."""
    for split in ("train", "dev"):
        shards = sorted(p.name for p in out.glob(f"{kind}_{split}_*.tsv"))
        if shards:
            (out / f"{kind}_{split}.list").write_text("\n".join(shards) + "\n")
