"""Command-line tools over manifests (wrapped by the scripts in ``manifests/``):
validating a manifest and building the character vocabulary from manifests."""

from __future__ import annotations

import argparse
import logging
import os
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
    p.add_argument("--decode", action="store_true",
                   help="also decode every audio file (undecodable, non-finite, too short, "
                        "length against n_frames), in parallel")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--state", type=Path, default=None,
                   help="with --decode: a JSON-lines file of decoded rows; a rerun skips them")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    try:
        m = mf.read_manifest(args.manifest, args.kind, skip_invalid=args.skip_invalid,
                             check_audio_files=not args.no_audio)
    except (mf.ManifestError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")
    print(f"{args.manifest}: {len(m.rows)} valid rows; skipped {sum(m.skipped.values())} "
          f"{dict(m.skipped) if m.skipped else ''}".rstrip())
    failed = decode_all(m, args.workers, args.state) if args.decode else {}
    sys.exit(1 if m.skipped or failed else 0)


def _decode_row(job: tuple[str, int, str, int]) -> tuple[int, str | None, str | None]:
    from .sources import AudioReadError, _read_wav

    manifest, line, audio, n_frames = job
    try:
        _read_wav(Path(audio), f"{manifest}:{line}", n_frames)
    except AudioReadError as err:
        return line, err.reason, str(err)
    return line, None, None


def decode_all(m: "mf.Manifest", workers: int, state: Path | None) -> dict[str, int]:
    """Decode every audio file of a validated manifest in ``workers`` processes; print
    each failure as FILE:LINE: reason; returns the failures counted by reason. With
    ``state``, every decoded row is appended there and a rerun skips it."""
    import json
    from collections import Counter
    from multiprocessing import Pool

    done: dict[int, dict] = {}
    if state is not None and state.is_file():
        for raw in state.read_text(encoding="utf-8").splitlines():
            entry = json.loads(raw)
            done[entry["line"]] = entry
    jobs = [(str(m.path), line, str(mf.resolve_audio(r["audio"], m.path.parent)),
             int(r["n_frames"])) for r, line in zip(m.rows, m.lines)
            if "audio" in r and not mf._is_zip_ref(r["audio"]) and line not in done]
    log = state.open("a", encoding="utf-8") if state is not None else None
    try:
        with Pool(max(1, workers)) as pool:
            for line, reason, message in pool.imap_unordered(_decode_row, jobs, 16):
                done[line] = {"line": line, "reason": reason, "message": message}
                if log is not None:
                    log.write(json.dumps(done[line]) + "\n")
                    log.flush()
    finally:
        if log is not None:
            log.close()
    failed = Counter(e["reason"] for e in done.values() if e["reason"])
    for entry in sorted(done.values(), key=lambda e: e["line"]):
        if entry["reason"]:
            print(entry["message"])
    print(f"{m.path}: decoded {len(done)} audio files ({len(jobs)} now); "
          f"{sum(failed.values())} failed {dict(failed) if failed else ''}".rstrip())
    return dict(failed)
