"""The fine-tuning corpus of the ablation: the paired, ST and MT manifests of some
languages of a corpus built by examples/tiny/prepare.sh, in a directory of their own
(a stage of examples/ablation/run.sh).

Audio, filterbanks, the SentencePiece model and the character vocabulary are shared
with the full corpus (symbolic links; config_st.yaml is copied, its audio_root already
points at the full corpus); the grapheme vocabulary of transducer ASR is rebuilt from
the chosen languages' training transcripts.

usage: python examples/ablation/subset.py --data DIR --langs de,fr,es --out DIR/ft
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

from mslam_plugin.corpus.speech_to_text import FBANK_ZIP, SPM_PREFIX
from mslam_plugin.data import manifest as mf
from mslam_plugin.data.graphemes import build_grapheme_dictionary

SPLITS = ("train", "dev", "test")
SHARED = ("audio", FBANK_ZIP, f"{SPM_PREFIX}.model", f"{SPM_PREFIX}.vocab",
          f"{SPM_PREFIX}.txt", "dict.char.txt")


def manifest_names() -> list[str]:
    return [n for s in SPLITS for n in (f"paired_{s}", f"{s}_st", f"mt_{s}")]


def write_subset(data: Path, langs: list[str], out: Path) -> dict[str, int]:
    """Write the filtered manifests and links; returns rows per manifest."""
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name in manifest_names():
        kind = mf.kind_of(name)
        rows = mf.read_manifest(data / f"{name}.tsv", kind, check_audio_files=False).rows
        kept = [r for r in rows if r["src_lang"] in langs]
        missing = set(langs) - {r["src_lang"] for r in kept}
        if missing:
            raise SystemExit(f"{data / name}.tsv: no rows of {sorted(missing)}")
        mf.write_manifest(out / f"{name}.tsv", kind, kept)
        counts[name] = len(kept)
    for name in SHARED:
        link = out / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(Path("..") / name if out.parent.resolve() == data.resolve()
                        else (data / name).resolve())
    shutil.copyfile(data / "config_st.yaml", out / "config_st.yaml")
    train = mf.read_manifest(out / "paired_train.tsv", "paired", check_audio_files=False).rows
    build_grapheme_dictionary((r["tgt_text"] for r in train), out / "dict.grapheme.txt")
    return counts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--langs", required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    counts = write_subset(args.data, [x for x in args.langs.split(",") if x], args.out)
    print(f"{args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
