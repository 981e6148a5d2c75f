"""``mslam-probe``: the linear CTC representation probe
(:mod:`mslam_plugin.scoring.ctc_probe`) of a checkpoint, its random-weight twin or the
filterbanks, on a corpus's paired manifests; one JSON result per run.

    mslam-probe --data data/tiny --checkpoint exp/pretrain/checkpoint_last.pt --out probe.json
    mslam-probe --data data/tiny --checkpoint exp/pretrain/checkpoint_last.pt --random-init --out random.json
    mslam-probe --data data/tiny --fbank --out fbank.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="mslam-probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True,
                   help="corpus with paired_{train,dev,test}.tsv and dict.char.txt")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path,
                        help="an mslam, mslam_st, mslam_transducer or fairseq wav2vec2 checkpoint")
    source.add_argument("--fbank", action="store_true", help="probe the filterbanks themselves")
    p.add_argument("--random-init", action="store_true",
                   help="the checkpoint's architecture with random weights (the control)")
    p.add_argument("--per-lang", type=int, default=100,
                   help="labelled training utterances a language (default 100)")
    p.add_argument("--steps", type=int, default=600, help="probe training batches (default 600)")
    p.add_argument("--layers", default="", help="comma-separated depths to try (default: all)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    args = p.parse_args(argv)
    if args.random_init and args.fbank:
        p.error("--random-init needs --checkpoint")
    if args.checkpoint is not None and not args.checkpoint.is_file():
        p.error(f"{args.checkpoint}: checkpoint not found")
    for name in ("paired_train.tsv", "paired_dev.tsv", "paired_test.tsv", "dict.char.txt"):
        if not (args.data / name).is_file():
            p.error(f"{args.data / name}: not found (the probe reads the corpus's paired manifests)")

    from ..scoring.ctc_probe import load_extractor, probe

    extract, name = load_extractor(None if args.fbank else args.checkpoint, args.random_init,
                                   args.seed)
    layers = [int(x) for x in args.layers.split(",") if x] or None
    result = probe(args.data, extract, name, args.per_lang, args.seed, args.steps, layers)
    out = dataclasses.asdict(result)
    out.update(per_lang=args.per_lang, steps=args.steps, seed=args.seed)
    if args.checkpoint is not None:
        from ..checkpoints import checkpoint_updates

        out["num_updates"] = checkpoint_updates(args.checkpoint)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: out[k] for k in ("encoder", "best_layer", "test_cer", "dev_cer")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
