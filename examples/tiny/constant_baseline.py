"""What a translator that ignores its input can score: every distinct target sentence of
the training split, repeated for every utterance of the test split, scored with
sacrebleu's chrF (and BLEU for the best ones). A blind model outputs one sentence for
every input; this is the range its score can fall in, and the best such sentence is a
stronger control than any one blind run.

usage: python examples/tiny/constant_baseline.py DATA [--train train_st] [--test test_st]
           [--out FILE.json] [--top 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import sacrebleu

from mslam_plugin.data.manifest import kind_of, read_manifest


def targets(data: Path, split: str) -> list[str]:
    path = data / f"{split}.tsv"
    return [row["tgt_text"] for row in read_manifest(path, kind_of(path), check_audio_files=False).rows]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path)
    p.add_argument("--train", default="train_st")
    p.add_argument("--test", default="test_st")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    refs = targets(args.data, args.test)
    candidates = sorted(set(targets(args.data, args.train)))
    chrf = sorted(((sacrebleu.corpus_chrf([c] * len(refs), [refs]).score, c)
                   for c in candidates), reverse=True)
    best = [{"chrf": round(s, 2), "bleu": round(sacrebleu.corpus_bleu([c] * len(refs), [refs]).score, 2),
             "sentence": c} for s, c in chrf[: args.top]]
    scores = [s for s, _ in chrf]
    summary = {"test_utterances": len(refs), "candidates": len(candidates),
               "chrf_max": round(scores[0], 2), "chrf_median": round(statistics.median(scores), 2),
               "chrf_min": round(scores[-1], 2), "best": best}
    text = json.dumps(summary, indent=1, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
