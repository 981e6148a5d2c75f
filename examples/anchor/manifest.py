"""Write fairseq wav2vec 2.0 manifests (``audio_pretraining``'s ``train.tsv`` /
``valid.tsv``: the audio root on the first line, then ``relative path<TAB>samples``) for
the speech of one of this project's corpora, so that fairseq's own wav2vec 2.0 pre-trains
on exactly the audio mSLAM pre-trains on.

usage: python examples/anchor/manifest.py --data data/tiny --out exp/anchor/manifest
           [--train speech_train.tsv] [--valid speech_dev.tsv]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import soundfile as sf

from mslam_plugin.data.manifest import read_tsv


def write_manifest(data: Path, split: Path, out: Path) -> int:
    """One wav2vec 2.0 manifest from a speech manifest of ``data``; returns its rows."""
    rows = read_tsv(split)
    lines = [str(data.resolve())]
    for n, row in enumerate(rows, start=2):
        path = data / row["audio"]
        try:
            info = sf.info(str(path))
        except RuntimeError as e:
            raise SystemExit(f"{split}:{n}: cannot read {path}: {e}") from None
        if info.samplerate != 16000 or info.channels != 1:
            raise SystemExit(f"{split}:{n}: {path} is {info.samplerate} Hz, "
                             f"{info.channels} channel(s); 16 kHz mono expected")
        lines.append(f"{row['audio']}\t{info.frames}")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--train", default="speech_train.tsv")
    p.add_argument("--valid", default="speech_dev.tsv")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, split in (("train", args.train), ("valid", args.valid)):
        rows = write_manifest(args.data, args.data / split, args.out / f"{name}.tsv")
        print(f"{args.out / (name + '.tsv')}: {rows} rows from {args.data / split}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
