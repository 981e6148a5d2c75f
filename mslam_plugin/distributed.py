"""Unused-parameter handling for torch DistributedDataParallel, set automatically.

Several of this package's training set-ups leave parameters without a gradient in a step:
speech-only fine-tuning never uses the character embedding, a pre-training objective of
weight 0 never uses its head, and a mixed batch lacking one kind of data skips the
modules only that kind reaches. Stock DDP (fairseq's ``--ddp-backend pytorch_ddp`` /
``c10d``) then fails on the second step unless it searches for unused parameters, which
fairseq leaves off by default (``--find-unused-parameters``). :func:`install` turns the
search on for this package's models, with one log line; other models are left alone.
Parameters without a gradient are then skipped by the optimizer as in a single process
(a zero gradient instead would let weight decay and Adam momentum move them).
"""

from __future__ import annotations

import logging

from torch import nn

logger = logging.getLogger(__name__)
DDP_BACKENDS = ("c10d", "pytorch_ddp")


def needs_unused_parameter_search(model: nn.Module) -> bool:
    """True for the models of this package (any of their steps may leave parameters
    without a gradient)."""
    return type(model).__module__.startswith(__package__ + ".")


def install() -> None:
    """Wrap fairseq's DistributedFairseqModel (idempotent)."""
    from fairseq import models

    if getattr(models, "_mslam_unused_parameters", False):
        return
    plain = models.DistributedFairseqModel

    def distributed_model(args, model, process_group, device):
        if (getattr(args, "ddp_backend", None) in DDP_BACKENDS
                and not getattr(args, "find_unused_parameters", True)
                and needs_unused_parameter_search(model)):
            logger.info("%s: --find-unused-parameters set for DDP (speech-only fine-tuning, "
                        "weight-0 objectives and batches lacking a kind leave parameters "
                        "without gradients)", type(model).__name__)
            args.find_unused_parameters = True
        return plain(args, model, process_group, device)

    models.DistributedFairseqModel = distributed_model
    models._mslam_unused_parameters = True
