"""Decode a mslam_transducer checkpoint on a paired manifest: greedy or beam search,
WER and CER (jiwer) per language and overall, and the real-time factor (decoding time /
audio duration; filterbank computation and file reading excluded, encoder included).

    python -m mslam_plugin.decode_asr --data data/tiny --split paired_test \
        --checkpoint exp/tiny/asr/checkpoint_last.pt --out exp/tiny/asr/decode [--beam 4]

--beam 1 is greedy search. Writes OUT/hyps-SPLIT-MODE.tsv (id, lang, reference,
hypothesis) and OUT/scores-SPLIT-MODE.json, and prints the table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from .data.graphemes import decode as decode_graphemes
from .data.sources import device_fbank
from .rnnt_decoding import decode
from .scoring import write_recognition


def load(checkpoint: str, data: str):
    from fairseq import checkpoint_utils

    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        [checkpoint], arg_overrides={"data": data})
    return models[0].eval(), task


def run(model, task, split: str, beam: int, batch_size: int = 16, device: str = "cpu"):
    """(rows of id/lang/reference/hypothesis, decoding seconds, audio seconds)."""
    task.load_dataset(split)
    ds = task.dataset(split)
    model.to(device)
    order = ds.ordered_indices()
    rows, seconds, audio = [None] * len(ds), 0.0, 0.0
    for start in range(0, len(order), batch_size):
        batch = ds.collater([ds[int(i)] for i in order[start : start + batch_size]])
        # a task trained with --fbank-on-device hands over waveforms: features on `device`
        net_input = device_fbank({k: v.to(device) for k, v in batch["net_input"].items()})
        fbank, lengths = net_input["src_tokens"], net_input["src_lengths"]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        results = decode(model, fbank, lengths, beam)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds += time.perf_counter() - t0
        audio += float(lengths.sum()) * 0.01  # 10 ms filterbank frames
        for i, (tokens, _) in zip(batch["id"].tolist(), results):
            row = ds.rows[i]
            rows[i] = {"id": row["id"], "lang": row["src_lang"], "reference": row["tgt_text"],
                       "hypothesis": decode_graphemes(task.target_dictionary, tokens)}
    return rows, seconds, audio


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="directory of the paired manifests")
    p.add_argument("--split", default="paired_test")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--beam", type=int, default=4, help="beam width (1: greedy search)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    try:
        model, task = load(args.checkpoint, args.data)
        rows, seconds, audio = run(model, task, args.split, args.beam, args.batch_size,
                                   args.device)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    mode = "greedy" if args.beam <= 1 else f"beam{args.beam}"
    rtf = {"decode_seconds": round(seconds, 3), "audio_seconds": round(audio, 2),
           "rtf": round(seconds / max(audio, 1e-9), 4), "mode": mode,
           "device": args.device, "threads": torch.get_num_threads()}
    write_recognition(rows, args.out, args.split, mode, {"rtf": rtf})
    print(f"{mode}: real-time factor {rtf['rtf']:.4f} ({seconds:.1f} s for "
          f"{audio:.1f} s of audio, {args.device}, {torch.get_num_threads()} threads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
