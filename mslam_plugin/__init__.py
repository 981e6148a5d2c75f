"""mslam-plugin: mSLAM (Bapna et al., 2022) joint speech-text pre-training for fairseq.

``fairseq-train --user-dir mslam_plugin`` imports this package; importing it registers the
package's tasks, models and criterions with fairseq exactly once (relative imports, so a
second import under the same name is a no-op).
"""

__version__ = "0.1.0"

import argparse  # noqa: E402

import torch  # noqa: E402

# torch >= 2.6 loads checkpoints with weights_only=True. fairseq tasks configured through
# add_args (speech_to_text among them) save their config as an argparse.Namespace, which
# would make every such checkpoint unloadable; a Namespace is a plain attribute holder.
torch.serialization.add_safe_globals([argparse.Namespace])

from . import criterions, models, optim, scoring, tasks  # noqa: F401,E402  (registration side effects)
from .data import w2vbert2_cmvn  # noqa: F401,E402  (registers the w2vbert2_cmvn feature transform)
from .checkpoints import install as _install_crash_safe_checkpoints  # noqa: E402

from .distributed import install as _install_ddp_unused_parameters  # noqa: E402

_install_crash_safe_checkpoints()  # atomic checkpoint_last/best, resume from an intact one
_install_ddp_unused_parameters()  # DDP searches for unused parameters of our models
