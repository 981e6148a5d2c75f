"""The corpus preparation commands (:mod:`mslam_plugin.corpus`):

- ``mslam-prepare-covost2`` (``python -m mslam_plugin.corpus.covost2``): CoVoST 2 X->En;
- ``mslam-prepare-asr`` (``python -m mslam_plugin.corpus.mls_voxpopuli``): MLS or
  VoxPopuli paired manifests and grapheme vocabularies for transducer ASR;
- ``mslam-prepare-unlabeled-speech`` (``python -m mslam_plugin.corpus.unlabeled_speech``):
  speech-only pre-training shards from Common Voice, MLS or VoxPopuli;
- ``mslam-prepare-mc4`` (``python -m mslam_plugin.corpus.mc4``): text-only pre-training
  shards from mC4;
- ``mslam-prepare-tiny`` (``python -m mslam_plugin.corpus.tiny.prepare``): one stage of
  the offline tiny corpus (``examples/tiny/prepare.sh`` runs them all);
- ``mslam-prepare-mt-text`` (``python -m mslam_plugin.corpus.libreoffice_help``): an MT
  TSV of X->English LibreOffice help paragraphs, for speech + text fine-tuning
  (``examples/tiny/prepare_mt_text.sh`` downloads the help and runs it).

A missing input or a bad option is one ``error:`` line on stderr and a non-zero exit
status (1 for CoVoST 2, ASR and MT text, 2 for the pre-training shards), not a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..corpus import covost2, libreoffice_help, mc4, mls_voxpopuli, unlabeled_speech
from ..corpus.tiny import prepare as tiny
from ..corpus.tiny import synthesis, units
from ..corpus.tiny.gnome_help import DEFAULT_ROOT
from . import log_info, print_counts, run


def _langs(value: str) -> list[str]:
    """A comma-separated language list, each language once (the first spelling kept)."""
    seen: dict[str, str] = {}
    for x in value.split(","):
        if x:
            seen.setdefault(x.lower(), x)
    return list(seen.values())


def _parser(module, langs: str, root: str | None = None, *, workers: bool = False,
            langs_required: bool = True) -> argparse.ArgumentParser:
    """The options the real-corpus commands share: ``--root`` (when ``root`` is its help),
    ``--langs``, ``--out`` and, with ``workers``, ``--workers``."""
    p = argparse.ArgumentParser(description=module.__doc__.split("\n\n")[0])
    if root is not None:
        p.add_argument("--root", type=Path, required=True, help=root)
    p.add_argument("--langs", required=langs_required, default="", help=langs)
    p.add_argument("--out", type=Path, required=True)
    if workers:
        p.add_argument("--workers", type=int, default=1)
    return p


def main_covost2(argv=None) -> int:
    """``mslam-prepare-covost2``."""
    p = _parser(covost2, "comma-separated source languages")
    p.add_argument("--cv-root", type=Path, required=True,
                   help="Common Voice root holding <lang>/validated.tsv and <lang>/clips/")
    p.add_argument("--covost-dir", type=Path, required=True,
                   help="directory holding covost_v2.<lang>_en.tsv")
    p.add_argument("--spm-vocab-size", type=int, default=8000)
    args = p.parse_args(argv)
    log_info()
    return run(lambda: print_counts(covost2.prepare(
        args.cv_root, args.covost_dir, _langs(args.langs), args.out, args.spm_vocab_size)))


def main_mls_voxpopuli(argv=None) -> int:
    """``mslam-prepare-asr``."""
    p = _parser(mls_voxpopuli, "comma-separated: MLS directory names (german,french) or "
                "VoxPopuli codes", "the corpus as distributed")
    p.add_argument("corpus", choices=mls_voxpopuli.CORPORA)
    p.add_argument("--limited", choices=("10h",), help="MLS: the 10-hour training subset")
    args = p.parse_args(argv)
    log_info()

    def body():
        counts, skipped = mls_voxpopuli.prepare(args.corpus, args.root, _langs(args.langs),
                                                args.out, args.limited)
        print_counts({**counts, **{f"skipped_{k}": n for k, n in sorted(skipped.items())}})

    return run(body)


def main_unlabeled_speech(argv=None) -> int:
    """``mslam-prepare-unlabeled-speech``."""
    p = _parser(unlabeled_speech, "comma-separated (MLS: german,french,...)",
                "the corpus as distributed", workers=True)
    p.add_argument("source", choices=unlabeled_speech.SOURCES)
    p.add_argument("--dev-per-lang", type=int, default=20)
    args = p.parse_args(argv)
    log_info()  # which says what was written and skipped
    return run(lambda: unlabeled_speech.prepare(args.source, args.root, _langs(args.langs),
                                                args.out, args.dev_per_lang, args.workers),
               status=2)


def main_mc4(argv=None) -> int:
    """``mslam-prepare-mc4``."""
    p = _parser(mc4, "comma-separated (default: every language found)",
                "folder of c4-<lang>...json.gz shards", workers=True, langs_required=False)
    p.add_argument("--max-pieces-per-lang", type=int, default=0, help="0: no cap")
    args = p.parse_args(argv)
    log_info()  # which says what was written and skipped
    return run(lambda: mc4.prepare(args.root, args.out, _langs(args.langs) or None,
                                   args.max_pieces_per_lang, args.workers), status=2)


def main_tiny(argv=None) -> int:
    """``mslam-prepare-tiny STAGE --out DIR``: one stage of the tiny corpus; its log goes
    to stdout."""
    p = argparse.ArgumentParser(description=tiny.__doc__.split("\nEvery stage")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=list(tiny.STAGES))
    p.add_argument("--out", type=Path, required=True, help="corpus directory")
    p.add_argument("--help-root", type=Path, default=DEFAULT_ROOT)
    p.add_argument("--langs", default=",".join(units.DEFAULT_LANGS),
                   help="comma-separated, or 'all'; any of: " + ",".join(units.ALL_LANGS))
    p.add_argument("--train-units", type=int, default=1000)
    p.add_argument("--dev-units", type=int, default=60)
    p.add_argument("--test-units", type=int, default=100)
    p.add_argument("--bilingual", action="store_true",
                   help="add each language's bilingual units (translated into it but not "
                        "into every language) to the training split")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--variants", default=",".join(synthesis.DEFAULT_VARIANTS),
                   help="espeak-ng voice variants used as speakers ('' = default voice)")
    p.add_argument("--speed", type=int, default=160, help="espeak-ng words per minute")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--vocab-size", type=int, default=4096)
    p.add_argument("--vocab-temperature", type=float, default=3.0)
    args = p.parse_args(argv)
    args.langs = list(units.ALL_LANGS) if args.langs == "all" else _langs(args.langs)
    unknown = [x for x in args.langs if x not in units.ALL_LANGS]
    if unknown:
        p.error(f"--langs: no espeak-ng voice / help translation set up for {unknown}")
    args.variants = args.variants.split(",")
    log_info("%(asctime)s | %(message)s", datefmt="%H:%M:%S", stream=sys.stdout, force=True)
    args.out.mkdir(parents=True, exist_ok=True)
    return run(lambda: tiny.STAGES[args.stage](args))


def main_mt_text(argv=None) -> int:
    """``mslam-prepare-mt-text``."""
    p = _parser(libreoffice_help, "comma-separated help languages (de,fr,es,pt-BR,...)")
    p.add_argument("--help-root", type=Path, required=True,
                   help="folder holding <lang>/text/ and en-US/text/ (the extracted Debian "
                        "packages' usr/share/libreoffice/help)")
    p.add_argument("--exclude", type=Path, nargs="+", default=[], metavar="TSV",
                   help="TSVs whose tgt_text / src_text sentences must not appear (the "
                        "dev and test sets)")
    p.add_argument("--append", type=Path, metavar="TSV",
                   help="an MT TSV whose rows are written first (the corpus's mt_train.tsv)")
    p.add_argument("--max-per-lang", type=int, default=0,
                   help="at most N pairs per language, a fixed hash-ordered sample (0: all)")
    args = p.parse_args(argv)
    log_info()
    return run(lambda: print_counts(libreoffice_help.prepare(
        args.help_root, _langs(args.langs), args.out, args.exclude, args.append,
        args.max_per_lang)))
