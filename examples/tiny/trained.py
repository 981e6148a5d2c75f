"""Exit 0 when CHECKPOINT exists and has at least N updates (a finished training stage),
so that rerunning the recipe skips it instead of starting another epoch.

usage: python examples/tiny/trained.py CHECKPOINT N
"""

import sys
from pathlib import Path

import torch


def updates(path: Path) -> int:
    state = torch.load(path, map_location="cpu", weights_only=False)
    history = state.get("optimizer_history") or [{}]
    return int(history[-1].get("num_updates", 0))


if __name__ == "__main__":
    ckpt, n = Path(sys.argv[1]), int(sys.argv[2])
    sys.exit(0 if ckpt.is_file() and updates(ckpt) >= n else 1)
