"""``mslam-convert-w2vbert2`` (``python -m mslam_plugin.convert_w2vbert2``): the public
w2v-BERT 2.0 encoder (Hugging Face format) as an ``mslam_w2vbert2`` checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import convert_w2vbert2
from . import log_info, run


def main_w2vbert2(argv=None) -> int:
    """``mslam-convert-w2vbert2``; arguments after ``--`` are fairseq model flags."""
    p = argparse.ArgumentParser(description=convert_w2vbert2.__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Arguments after -- are fairseq model flags.")
    p.add_argument("--hf-dir", required=True, type=Path,
                   help="local Hugging Face directory: config.json + model.safetensors")
    p.add_argument("--out", required=True, type=Path, help="checkpoint to write (.pt)")
    vocab = p.add_mutually_exclusive_group(required=True)
    vocab.add_argument("--char-vocab", type=Path, help="dict.char.txt of the training data")
    vocab.add_argument("--text-vocab-size", type=int, default=0,
                       help="character vocabulary size (pad index 1) instead of --char-vocab")
    p.add_argument("--speech-layers", type=int, default=8,
                   help="first conformer layers that form the speech encoder (8)")
    p.add_argument("--seed", type=int, default=1, help="seed of the freshly initialised parts")
    args, extra = p.parse_known_args(argv)
    log_info("%(levelname)s %(name)s: %(message)s")
    # a bad input is named in the message: a missing tensor is a KeyError
    return run(lambda: convert_w2vbert2.convert_w2vbert2(
        args.hf_dir, args.out, char_vocab=args.char_vocab, text_vocab_size=args.text_vocab_size,
        speech_layers=args.speech_layers, seed=args.seed,
        model_args=tuple(e for e in extra if e != "--")), errors=(OSError, KeyError, ValueError))
