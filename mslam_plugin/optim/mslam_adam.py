"""``--optimizer mslam_adam``: fairseq's Adam (same flags) with one parameter group per
``param_group`` attribute of the parameters (the attribute fairseq's composite optimiser
also reads; mslam_transducer sets ``encoder`` / ``decoder``), for the per-group rates of
``--lr-scheduler mslam_group_inverse_sqrt``."""

from fairseq.optim import register_optimizer
from fairseq.optim.adam import FairseqAdam, FairseqAdamConfig


@register_optimizer("mslam_adam", dataclass=FairseqAdamConfig)
class MSLAMAdam(FairseqAdam):
    def __init__(self, cfg: FairseqAdamConfig, params):
        groups: dict[str, list] = {}
        for p in params:
            groups.setdefault(getattr(p, "param_group", "default"), []).append(p)
        super().__init__(cfg, [{"params": ps, "name": name} for name, ps in sorted(groups.items())])
