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

    python -m mslam_plugin.corpus.asr_data mls --root MLS_ROOT --langs german,french --out data/mls
    python -m mslam_plugin.corpus.asr_data voxpopuli --root VP_ROOT --langs de,fr --out data/vp
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path

import soundfile as sf

from ..data import manifest as mf
from ..data.graphemes import build_grapheme_dictionary

logger = logging.getLogger(__name__)
SPLITS = ("train", "dev", "test")
# MLS directory names -> ISO 639-1 codes (the src_lang column)
MLS_LANGS = {"english": "en", "german": "de", "dutch": "nl", "french": "fr", "spanish": "es",
             "italian": "it", "portuguese": "pt", "polish": "pl"}


def _row(uid: str, audio: Path, text: str, speaker: str, lang: str, skipped: Counter):
    if not text.strip():
        skipped["empty_transcript"] += 1
        return None
    if not audio.is_file():
        skipped["missing_audio"] += 1
        return None
    info = sf.info(str(audio))
    if info.samplerate != mf.SAMPLE_RATE or info.channels != 1:
        raise ValueError(f"{audio}: {info.samplerate} Hz, {info.channels} channel(s); "
                         "16 kHz mono expected")
    return {"id": uid, "audio": str(audio.resolve()),
            "n_frames": str(mf.num_fbank_frames(info.frames)), "tgt_text": " ".join(text.split()),
            "speaker": speaker, "src_lang": lang}


def _mls_limited_handles(lang_dir: Path) -> set[str]:
    base = lang_dir / "train" / "limited_supervision"
    files = [base / "9hr" / "handles.txt", *sorted((base / "1hr").glob("*/handles.txt"))]
    missing = [f for f in files[:1] if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: MLS limited-supervision handles not found")
    return {h.strip() for f in files for h in f.read_text().splitlines() if h.strip()}


def read_mls(root: Path, lang_name: str, skipped: Counter, limited: str | None = None
             ) -> dict[str, list[dict]]:
    lang_dir = root / f"mls_{lang_name}"
    lang = MLS_LANGS.get(lang_name, lang_name)
    keep = _mls_limited_handles(lang_dir) if limited == "10h" else None
    out: dict[str, list[dict]] = {}
    for split in SPLITS:
        transcripts = lang_dir / split / "transcripts.txt"
        if not transcripts.is_file():
            raise FileNotFoundError(f"{transcripts}: not found")
        rows = []
        for line_no, line in enumerate(transcripts.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            uid, sep, text = line.partition("\t")
            parts = uid.split("_")
            if not sep or len(parts) != 3:
                raise mf.ManifestError(transcripts, line_no, "expected <speaker>_<book>_<utt>"
                                       "<TAB><transcript>")
            if keep is not None and split == "train" and uid not in keep:
                continue
            audio = lang_dir / split / "audio" / parts[0] / parts[1] / f"{uid}.flac"
            row = _row(f"{uid}_{lang}", audio, text, parts[0], lang, skipped)
            if row:
                rows.append(row)
        out[split] = rows
    return out


def read_voxpopuli(root: Path, lang: str, skipped: Counter) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for split in SPLITS:
        tsv = root / lang / f"asr_{split}.tsv"
        if not tsv.is_file():
            raise FileNotFoundError(f"{tsv}: not found")
        with tsv.open(encoding="utf-8") as f:
            header = f.readline().rstrip("\n").split("\t")
            need = ("id", "normalized_text", "speaker_id")
            missing = [c for c in need if c not in header]
            if missing:
                raise mf.ManifestError(tsv, 1, f"header lacks column(s) {', '.join(missing)}")
            rows = []
            for line_no, raw in enumerate(f, 2):
                values = raw.rstrip("\n").split("\t")
                if len(values) != len(header):
                    raise mf.ManifestError(tsv, line_no, f"expected {len(header)} columns, "
                                           f"found {len(values)}")
                r = dict(zip(header, values))
                year = r["id"][:4]
                audio = root / lang / year / f"{r['id']}.ogg"
                row = _row(f"{r['id']}_{lang}", audio, r["normalized_text"], r["speaker_id"],
                           lang, skipped)
                if row:
                    rows.append(row)
        out[split] = rows
    return out


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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", choices=("mls", "voxpopuli"))
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--langs", required=True,
                   help="comma-separated: MLS directory names (german,french) or VoxPopuli codes")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--limited", choices=("10h",), help="MLS: the 10-hour training subset")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    skipped: Counter = Counter()
    try:
        if args.corpus == "mls":
            per_lang = {MLS_LANGS.get(n, n): read_mls(args.root, n, skipped, args.limited)
                        for n in args.langs.split(",")}
        else:
            per_lang = {n: read_voxpopuli(args.root, n, skipped) for n in args.langs.split(",")}
        counts = write(args.out, per_lang)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for name, n in counts.items():
        print(f"{name}\t{n}")
    for reason, n in sorted(skipped.items()):
        print(f"skipped_{reason}\t{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
