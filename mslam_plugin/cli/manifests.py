"""Commands over manifests (also wrapped by the scripts in ``manifests/``): validating a
manifest, and building the character and grapheme vocabularies from manifests."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..data import manifest as mf
from ..data.char_vocab import texts_from_manifests, write_char_vocab
from ..data.decode_check import decode_all
from ..data.graphemes import build_grapheme_dictionary
from . import log_info, run


def main_build_vocab(argv=None) -> int:
    """``mslam-build-vocab``."""
    p = argparse.ArgumentParser(description="Build the character vocabulary (fairseq "
                                "Dictionary) from text / paired / mt manifests.")
    p.add_argument("manifests", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True, help="dict.char.txt to write")
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--temperature", type=float, default=3.0)
    args = p.parse_args(argv)

    def body():
        vocab = write_char_vocab(args.manifests, args.out, args.size, args.temperature)
        print(f"{args.out}: {len(vocab.symbols)} characters over {len(vocab.coverage)} languages")
        for lang, cov in sorted(vocab.coverage.items(), key=lambda kv: kv[1])[:10]:
            print(f"  lowest coverage: {lang}\t{cov:.4f}")

    return run(body)


def main_build_graphemes(argv=None) -> int:
    """``mslam-build-graphemes``."""
    p = argparse.ArgumentParser(description="Build the grapheme vocabulary of transducer ASR "
                                "(fairseq Dictionary, <blank> last) from the transcripts of "
                                "the fine-tuning training manifests (paired format), merged.")
    p.add_argument("manifests", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True, help="dict.grapheme.txt to write")
    args = p.parse_args(argv)

    def body():
        texts = texts_from_manifests(args.manifests)
        d = build_grapheme_dictionary((t for ts in texts.values() for t in ts), args.out)
        print(f"{args.out}: {len(d) - d.nspecial - 1} graphemes over {len(texts)} languages "
              f"({', '.join(sorted(texts))})")

    return run(body)


def main_validate(argv=None) -> int:
    """``mslam-validate-manifest``: exit status 1 when a row was skipped or failed."""
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
    log_info("%(message)s", force=True)

    def body():
        m = mf.read_manifest(args.manifest, args.kind, skip_invalid=args.skip_invalid,
                             check_audio_files=not args.no_audio)
        print(f"{args.manifest}: {len(m.rows)} valid rows; skipped {sum(m.skipped.values())} "
              f"{dict(m.skipped) if m.skipped else ''}".rstrip())
        failed = decode_all(m, args.workers, args.state) if args.decode else {}
        return 1 if m.skipped or failed else 0

    return run(body, errors=(mf.ManifestError, FileNotFoundError))

