"""Command-line tools over manifests (wrapped by the scripts in ``manifests/``):
validating a manifest and building the character vocabulary from manifests."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import manifest as mf
from .char_vocab import build_char_vocab

TEXT_COLUMN = {"text": ("text", "lang"), "paired": ("tgt_text", "src_lang"),
               "mt": ("src_text", "src_lang")}


def kind_of(path: Path) -> str:
    kind = mf.kind_of(path)
    if kind is None:
        raise ValueError(f"{path}: cannot tell the manifest kind from the file name; "
                         f"expected <kind>_<split>.tsv with kind in {sorted(mf.COLUMNS)}, "
                         "or <split>_st.tsv")
    return kind


def texts_from_manifests(paths: list[Path]) -> dict[str, list[str]]:
    """Language -> texts, from text, paired and mt manifests (audio is not checked)."""
    texts: dict[str, list[str]] = {}
    for path in paths:
        kind = kind_of(path)
        if kind not in TEXT_COLUMN:
            raise ValueError(f"{path}: a {kind} manifest holds no source-language text")
        text_col, lang_col = TEXT_COLUMN[kind]
        for row in mf.read_manifest(path, kind, check_audio_files=False).rows:
            texts.setdefault(row[lang_col], []).append(row[text_col])
    return texts


def write_vocab(paths: list[Path], out: Path, size: int, temperature: float):
    vocab = build_char_vocab(texts_from_manifests(paths), size, temperature)
    vocab.save(out)
    vocab.save_coverage(out.with_name("vocab_coverage.tsv"))
    return vocab


def main_build_vocab(argv=None) -> None:
    p = argparse.ArgumentParser(description="Build the character vocabulary (fairseq "
                                "Dictionary) from text / paired / mt manifests.")
    p.add_argument("manifests", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True, help="dict.char.txt to write")
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--temperature", type=float, default=3.0)
    args = p.parse_args(argv)
    try:
        vocab = write_vocab(args.manifests, args.out, args.size, args.temperature)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")
    print(f"{args.out}: {len(vocab.symbols)} characters over {len(vocab.coverage)} languages")
    for lang, cov in sorted(vocab.coverage.items(), key=lambda kv: kv[1])[:10]:
        print(f"  lowest coverage: {lang}\t{cov:.4f}")


def main_build_graphemes(argv=None) -> None:
    p = argparse.ArgumentParser(description="Build the grapheme vocabulary of transducer ASR "
                                "(fairseq Dictionary, <blank> last) from the transcripts of "
                                "the fine-tuning training manifests (paired format), merged.")
    p.add_argument("manifests", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True, help="dict.grapheme.txt to write")
    args = p.parse_args(argv)
    from .graphemes import build_grapheme_dictionary

    try:
        texts = texts_from_manifests(args.manifests)
        d = build_grapheme_dictionary((t for ts in texts.values() for t in ts), args.out)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")
    print(f"{args.out}: {len(d) - d.nspecial - 1} graphemes over {len(texts)} languages "
          f"({', '.join(sorted(texts))})")


def main_validate(argv=None) -> None:
    p = argparse.ArgumentParser(description="Validate a manifest (formats: manifests/README.md).")
    p.add_argument("kind", choices=sorted(mf.COLUMNS))
    p.add_argument("manifest", type=Path)
    p.add_argument("--skip-invalid", action="store_true",
                   help="count and report bad rows instead of stopping at the first")
    p.add_argument("--no-audio", action="store_true", help="do not open the audio files")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    try:
        m = mf.read_manifest(args.manifest, args.kind, skip_invalid=args.skip_invalid,
                             check_audio_files=not args.no_audio)
    except (mf.ManifestError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")
    print(f"{args.manifest}: {len(m.rows)} valid rows; skipped {sum(m.skipped.values())} "
          f"{dict(m.skipped) if m.skipped else ''}".rstrip())
    sys.exit(1 if m.skipped else 0)
