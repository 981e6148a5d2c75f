"""Print the number of updates a fairseq checkpoint was saved at.

usage: python examples/pretraining/updates.py CHECKPOINT
"""

import sys

import torch

state = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
print(int((state.get("optimizer_history") or [{}])[-1].get("num_updates", 0)))
