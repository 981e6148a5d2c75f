"""Codebook usage of a pre-trained mSLAM checkpoint over a whole manifest: the share of
the quantizer's codes that are the hard (argmax) choice of at least one frame, and the
perplexity of that choice. A collapsed quantizer uses a handful of codes.

    python -m benchmarks.codebook_usage exp/tiny/pretrain/checkpoint_last.pt data/tiny/speech_dev.tsv
"""

import argparse
import math
from collections import Counter
from pathlib import Path

import torch
from fairseq import checkpoint_utils

from mslam_plugin.data.manifest import read_manifest, resolve_audio
from mslam_plugin.data.sources import collate_speech, load_fbank


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("manifest", type=Path)
    p.add_argument("--batch", type=int, default=16)
    a = p.parse_args()
    models, _, _ = checkpoint_utils.load_model_ensemble_and_task([a.checkpoint])
    model = models[0].eval()
    rows = read_manifest(a.manifest, "speech").rows
    counts: Counter = Counter()
    with torch.inference_mode():
        for i in range(0, len(rows), a.batch):
            items = [{"fbank": load_fbank(resolve_audio(r["audio"], a.manifest.parent), str(a.manifest))}
                     for r in rows[i:i + a.batch]]
            batch = collate_speech(items)
            targets, _, padding_mask = model.speech_features(batch["fbank"],
                                                             batch["fbank_padding_mask"])
            q = model.quantize(targets, padding_mask)
            counts.update(q.code_ids[~padding_mask].tolist())
    total, num_codes = sum(counts.values()), model.cfg.codebook_size
    entropy = -sum(n / total * math.log(n / total) for n in counts.values())
    print(f"{a.manifest}: {total} frames, {len(counts)} of {num_codes} codes used "
          f"({100 * len(counts) / num_codes:.1f}%), code perplexity {math.exp(entropy):.1f}")


if __name__ == "__main__":
    main()
