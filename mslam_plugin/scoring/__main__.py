"""``python -m mslam_plugin.scoring``: the ``mslam-score`` command."""
import sys

from ..cli.score import main

sys.exit(main())
