"""A pre-trained variant for release: the checkpoint's model weights in float16 and its
config, update count and task state, without the optimizer state (a quarter of the
file's size). Fine-tuning (``--load-pretrained-mslam-from``), the probes and
examples/tiny/trained.py read it as they read the full checkpoint; the weights are
cast back to float32 as they are copied into the model.

usage: python examples/ablation/release.py CHECKPOINT OUT
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import torch

KEEP = ("cfg", "args", "model", "optimizer_history", "task_state", "extra_state")


def release(state: dict) -> dict:
    """The released form of a fairseq checkpoint dict: the KEEP entries, floating-point
    model tensors in float16 (other tensors as they are)."""
    missing = [k for k in ("cfg", "model") if k not in state]
    if missing:
        raise ValueError(f"not a fairseq checkpoint (no {', '.join(missing)})")
    out = {k: state[k] for k in KEEP if k in state}
    out["model"] = {k: v.half() if v.is_floating_point() else v
                    for k, v in state["model"].items()}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="a pre-training checkpoint")
    p.add_argument("out", type=Path, help="the released file to write")
    args = p.parse_args(argv)
    src, out = args.checkpoint, args.out
    try:
        state = release(torch.load(src, map_location="cpu", weights_only=False))
    except (OSError, ValueError, RuntimeError, pickle.UnpicklingError) as e:
        print(f"error: {src}: {e}", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, out)
    print(f"{out}: {out.stat().st_size / 2**20:.1f} MiB ({src.stat().st_size / 2**20:.1f} "
          "MiB with the optimizer state)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
