"""``mslam-decode-asr`` (``python -m mslam_plugin.decode_asr``): a mslam_transducer
checkpoint on a paired manifest, greedy or beam search, WER / CER and the real-time
factor; ``mslam-decode-ctc`` (``python -m mslam_plugin.decode_ctc``): greedy CTC
transcription by the CTC head of a pre-training or speech-translation checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .. import decode_asr, decode_ctc
from ..scoring.metrics import write_recognition
from . import run


def _parser(module, split: str, split_help: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=module.__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="directory of the manifests")
    p.add_argument("--split", default=split, help=split_help)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--batch-size", type=int, default=16)
    return p


def main_asr(argv=None) -> int:
    """``mslam-decode-asr``."""
    p = _parser(decode_asr, "paired_test", "a paired manifest of the data directory")
    p.add_argument("--beam", type=int, default=4, help="beam width (1: greedy search)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    def body():
        model, task = decode_asr.load(args.checkpoint, args.data)
        rows, seconds, audio = decode_asr.run(model, task, args.split, args.beam,
                                              args.batch_size, args.device)
        mode = "greedy" if args.beam <= 1 else f"beam{args.beam}"
        rtf = {"decode_seconds": round(seconds, 3), "audio_seconds": round(audio, 2),
               "rtf": round(seconds / max(audio, 1e-9), 4), "mode": mode,
               "device": args.device, "threads": torch.get_num_threads()}
        write_recognition(rows, args.out, args.split, mode, {"rtf": rtf})
        print(f"{mode}: real-time factor {rtf['rtf']:.4f} ({seconds:.1f} s for "
              f"{audio:.1f} s of audio, {args.device}, {torch.get_num_threads()} threads)")

    return run(body)


def main_ctc(argv=None) -> int:
    """``mslam-decode-ctc``."""
    p = _parser(decode_ctc, "test_st",
                "test_st (ST checkpoints) or paired_test (pre-training checkpoints)")
    args = p.parse_args(argv)

    def body():
        model, task = decode_asr.load(args.checkpoint, args.data)
        rows = decode_ctc.transcribe(model, task, args.split, args.batch_size)
        write_recognition(rows, args.out, args.split, "ctc")

    return run(body)
