"""Separate learning rates for the encoder and the decoder (mSLAM section 4.3: peak 3e-4
with 5k warm-up updates for the encoder, 1e-3 with 1.5k for the prediction and joint
networks).

``--lr-scheduler mslam_group_inverse_sqrt`` warms each parameter group of
``--optimizer mslam_adam`` (:mod:`mslam_plugin.optim.mslam_adam`: ``encoder`` /
``decoder``) up linearly to its own peak and decays it with the inverse square root of
the update number. Under ``--fp16`` / ``--bf16`` fairseq flattens all parameters into one
group unless ``--fp16-no-flatten-grads`` (or ``--memory-efficient-fp16``) is given; the
scheduler says so rather than training with one rate.
"""

import math
from dataclasses import dataclass, field
from typing import List

from fairseq import metrics
from fairseq.dataclass import FairseqDataclass
from fairseq.optim.lr_scheduler import FairseqLRScheduler, register_lr_scheduler
from omegaconf import II


@dataclass
class GroupInverseSqrtConfig(FairseqDataclass):
    encoder_lr: float = field(default=3e-4, metadata={"help": "peak learning rate of the encoder"})
    encoder_warmup_updates: int = field(default=5000, metadata={"help": "encoder warm-up updates"})
    encoder_freeze_updates: int = field(default=0, metadata={"help": "the encoder's learning rate is 0 for this many updates, then warms up: the decoder first learns to read the encoder output (fairseq wav2vec 2.0's --freeze-finetune-updates); without it a freshly initialised decoder's language-model phase drives the encoder output toward one constant vector (docs/learning_curves.md)"})
    decoder_lr: float = field(default=1e-3, metadata={"help": "peak learning rate of the decoder (prediction + joint networks)"})
    decoder_warmup_updates: int = field(default=1500, metadata={"help": "decoder warm-up updates"})
    lr: List[float] = II("optimization.lr")


def group_lr(peak: float, warmup: int, num_updates: int, frozen: int = 0) -> float:
    """Linear warm-up to ``peak`` over ``warmup`` updates, then inverse square root;
    0 for the first ``frozen`` updates, the schedule starting after them."""
    if num_updates < frozen:
        return 0.0
    step = max(num_updates - frozen, 1)
    return peak * min(step / max(warmup, 1), math.sqrt(max(warmup, 1) / step))


@register_lr_scheduler("mslam_group_inverse_sqrt", dataclass=GroupInverseSqrtConfig)
class GroupInverseSqrtSchedule(FairseqLRScheduler):
    def __init__(self, cfg: GroupInverseSqrtConfig, optimizer):
        super().__init__(cfg, optimizer)
        names = {g.get("name") for g in optimizer.param_groups}
        if not {"encoder", "decoder"} <= names:
            raise ValueError(
                "--lr-scheduler mslam_group_inverse_sqrt needs parameter groups named encoder "
                f"and decoder, but the optimiser has {sorted(map(str, names))}: use "
                "--optimizer mslam_adam with a model that sets param_group (mslam_transducer), "
                "and with --fp16/--bf16 add --fp16-no-flatten-grads")
        self.schedule = {"encoder": (cfg.encoder_lr, cfg.encoder_warmup_updates,
                                     cfg.encoder_freeze_updates),
                         "decoder": (cfg.decoder_lr, cfg.decoder_warmup_updates, 0)}
        self.step_update(0)

    def step(self, epoch, val_loss=None):
        super().step(epoch, val_loss)
        return self.optimizer.get_lr()

    def step_update(self, num_updates):
        lrs = {}
        for group in self.optimizer.param_groups:
            peak, warmup, frozen = self.schedule.get(group.get("name"), self.schedule["decoder"])
            group["lr"] = lrs[group.get("name")] = group_lr(peak, warmup, num_updates, frozen)
        metrics.log_scalar("decoder_lr", lrs["decoder"], weight=0, round=7)
        return lrs["encoder"]
