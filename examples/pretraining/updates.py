"""Print the number of updates a fairseq checkpoint was saved at.

usage: python examples/pretraining/updates.py CHECKPOINT
"""

import sys

from mslam_plugin.checkpoints import checkpoint_updates

print(checkpoint_updates(sys.argv[1]))
