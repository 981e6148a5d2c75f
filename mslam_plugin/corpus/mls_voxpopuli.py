"""ASR fine-tuning data from a user's local copy of Multilingual LibriSpeech or VoxPopuli,
written as paired manifests (id, audio, n_frames, tgt_text, speaker, src_lang) for the
mslam_asr task. Nothing is downloaded.

- MLS (``mls_<language>/``, e.g. ``mls_german``, FLAC release):
  ``<split>/transcripts.txt`` (``<speaker>_<book>_<utt>\\t<text>``) and
  ``<split>/audio/<speaker>/<book>/<speaker>_<book>_<utt>.flac``; ``--limited 10h`` keeps
  the training handles of ``train/limited_supervision/9hr/handles.txt`` plus
  ``1hr/*/handles.txt`` (the paper's MLS-10h).
- VoxPopuli ASR data (as its ``get_asr_data.py`` leaves it): ``<lang>/asr_<split>.tsv``
  (``id, raw_text, normalized_text, speaker_id, ...``) next to ``<lang>/<year>/<id>.ogg``;
  ``normalized_text`` is the transcript.

Output under OUT: ``paired_<split>.tsv`` over all languages (one multilingual model) and
``paired_<split>_<lang>.tsv`` per language (one model per language), with the grapheme
vocabularies built from the training transcripts: ``dict.grapheme.txt`` (all languages)
and ``dict.grapheme.<lang>.txt``. Audio must be 16 kHz mono (both corpora are); rows whose
audio is missing or whose transcript is empty are skipped and counted.

    mslam-prepare-asr mls --root MLS_ROOT --langs german,french --out data/mls
    mslam-prepare-asr voxpopuli --root VP_ROOT --langs de,fr --out data/vp

(or ``python -m mslam_plugin.corpus.mls_voxpopuli``; ``examples/asr/prepare.sh`` runs it).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import soundfile as sf

from ..data import manifest as mf
from ..data.audio import SAMPLE_RATE
from ..data.graphemes import build_grapheme_dictionary

SPLITS = ("train", "dev", "test")
CORPORA = ("mls", "voxpopuli")
# MLS directory names -> ISO 639-1 codes (the src_lang column)
MLS_LANGS = {"english": "en", "german": "de", "dutch": "nl", "french": "fr", "spanish": "es",
             "italian": "it", "portuguese": "pt", "polish": "pl"}


def _rows(candidates, lang: str, skipped: Counter) -> list[dict]:
    """Paired rows of (id, audio file, transcript, speaker) candidates: an empty transcript
    or missing audio is skipped and counted; audio that is not 16 kHz mono stops."""
    rows = []
    for uid, audio, text, speaker in candidates:
        if not text.strip():
            skipped["empty_transcript"] += 1
        elif not audio.is_file():
            skipped["missing_audio"] += 1
        else:
            info = sf.info(str(audio))
            if info.samplerate != SAMPLE_RATE or info.channels != 1:
                raise ValueError(f"{audio}: {info.samplerate} Hz, {info.channels} channel(s); "
                                 "16 kHz mono expected")
            rows.append({"id": uid, "audio": str(audio.resolve()),
                         "n_frames": str(mf.num_fbank_frames(info.frames)),
                         "tgt_text": " ".join(text.split()), "speaker": speaker,
                         "src_lang": lang})
    return rows


def _mls_limited_handles(lang_dir: Path) -> set[str]:
    base = lang_dir / "train" / "limited_supervision"
    files = [base / "9hr" / "handles.txt", *sorted((base / "1hr").glob("*/handles.txt"))]
    missing = [f for f in files[:1] if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: MLS limited-supervision handles not found")
    return {h.strip() for f in files for h in f.read_text().splitlines() if h.strip()}


def _mls_items(lang_dir: Path, split: str, lang: str, keep: set[str] | None):
    transcripts = lang_dir / split / "transcripts.txt"
    if not transcripts.is_file():
        raise FileNotFoundError(f"{transcripts}: not found")
    for line_no, line in enumerate(transcripts.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        uid, sep, text = line.partition("\t")
        parts = uid.split("_")
        if not sep or len(parts) != 3:
            raise mf.ManifestError(transcripts, line_no, "expected <speaker>_<book>_<utt>"
                                   "<TAB><transcript>")
        if keep is None or split != "train" or uid in keep:
            audio = lang_dir / split / "audio" / parts[0] / parts[1] / f"{uid}.flac"
            yield f"{uid}_{lang}", audio, text, parts[0]


def read_mls(root: Path, lang_name: str, skipped: Counter, limited: str | None = None
             ) -> dict[str, list[dict]]:
    lang_dir = root / f"mls_{lang_name}"
    lang = MLS_LANGS.get(lang_name, lang_name)
    keep = _mls_limited_handles(lang_dir) if limited == "10h" else None
    return {split: _rows(_mls_items(lang_dir, split, lang, keep), lang, skipped)
            for split in SPLITS}


def read_voxpopuli(root: Path, lang: str, skipped: Counter) -> dict[str, list[dict]]:
    def items(split):
        for r in mf.read_tsv(root / lang / f"asr_{split}.tsv",
                             ("id", "normalized_text", "speaker_id")):
            audio = root / lang / r["id"][:4] / f"{r['id']}.ogg"  # <year>/<id>.ogg
            yield f"{r['id']}_{lang}", audio, r["normalized_text"], r["speaker_id"]

    return {split: _rows(items(split), lang, skipped) for split in SPLITS}


def write(out: Path, per_lang: dict[str, dict[str, list[dict]]]) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split in SPLITS:
        merged = [r for lang in sorted(per_lang) for r in per_lang[lang][split]]
        if not merged:
            raise ValueError(f"no usable {split} rows")
        mf.write_manifest(out / f"paired_{split}.tsv", "paired", merged)
        counts[f"paired_{split}"] = len(merged)
        for lang, splits in per_lang.items():
            if splits[split]:
                mf.write_manifest(out / f"paired_{split}_{lang}.tsv", "paired", splits[split])
    build_grapheme_dictionary((r["tgt_text"] for lang in per_lang
                               for r in per_lang[lang]["train"]), out / "dict.grapheme.txt")
    for lang, splits in per_lang.items():
        build_grapheme_dictionary((r["tgt_text"] for r in splits["train"]),
                                  out / f"dict.grapheme.{lang}.txt")
    return counts


def prepare(corpus: str, root: Path, langs: list[str], out: Path,
            limited: str | None = None) -> tuple[dict[str, int], Counter]:
    """Read ``corpus`` (``mls``: MLS directory names such as ``german``; ``voxpopuli``:
    language codes) and write OUT; returns (rows per manifest, skipped rows by reason)."""
    if corpus not in CORPORA:
        raise ValueError(f"`corpus` must be one of {CORPORA}, but is {corpus!r} instead.")
    skipped: Counter = Counter()
    if corpus == "mls":
        per_lang = {MLS_LANGS.get(n, n): read_mls(root, n, skipped, limited) for n in langs}
    else:
        per_lang = {n: read_voxpopuli(root, n, skipped) for n in langs}
    return write(out, per_lang), skipped


if __name__ == "__main__":  # python -m mslam_plugin.corpus.mls_voxpopuli: mslam-prepare-asr
    from ..cli.prepare import main_mls_voxpopuli

    sys.exit(main_mls_voxpopuli())
