"""mslam-plugin: mSLAM (Bapna et al., 2022) joint speech-text pre-training for fairseq.

``fairseq-train --user-dir mslam_plugin`` imports this package; importing it registers the
package's tasks, models and criterions with fairseq exactly once (relative imports, so a
second import under the same name is a no-op).
"""

__version__ = "0.1.0"

from . import criterions, models, tasks  # noqa: F401,E402  (registration side effects)
