"""RNN-T loss for mslam_transducer: torchaudio.functional.rnnt_loss (fused log-softmax)
on CUDA, and on the CPU an equal plain-PyTorch loss (mslam_plugin/modules/rnnt_loss.py),
7x faster there than torchaudio's CPU kernel (``--rnnt-impl`` chooses).

The joint network's output is (B, T, U+1, V): for a batch of 30-second utterances it is
the largest tensor of the whole step, and rnnt_loss keeps a gradient of the same size.
The criterion therefore joins and scores the batch in chunks of utterances whose
T x (U+1) x V stays under ``--rnnt-max-joint-elements`` (each chunk trimmed to its own
longest T and U); in training each chunk runs under activation checkpointing, so only
one chunk's joint output and gradient exist at a time, in forward and in backward. The
loss is unchanged (tested against the unchunked one).
"""

import math
from dataclasses import dataclass, field

import torch
import torchaudio
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from torch.utils.checkpoint import checkpoint

from ..modules.rnnt_loss import rnnt_loss_torch


@dataclass
class MSLAMRNNTCriterionConfig(FairseqDataclass):
    rnnt_max_joint_elements: int = field(default=100_000_000, metadata={"help": "joint outputs (T x U x V summed over a chunk of utterances) computed at once; at least one utterance"})
    rnnt_clamp: float = field(default=-1.0, metadata={"help": "gradient clamp of torchaudio's rnnt_loss (-1: off)"})
    rnnt_impl: ChoiceEnum(["auto", "torchaudio", "torch"]) = field(default="auto", metadata={"help": "auto: torchaudio on CUDA, the plain-PyTorch loss on the CPU"})


def chunks_by_joint_size(t_lengths, u_lengths, vocab: int, max_elements: int) -> list[list[int]]:
    """Consecutive utterance indices grouped so each group's (max T) x (max U+1) x V x size
    stays within ``max_elements`` (a group holds at least one utterance)."""
    groups, current, t_max, u_max = [], [], 0, 0
    for i, (t, u) in enumerate(zip(t_lengths.tolist(), u_lengths.tolist())):
        nt, nu = max(t_max, t), max(u_max, u + 1)
        if current and nt * nu * vocab * (len(current) + 1) > max_elements:
            groups.append(current)
            current, nt, nu = [], t, u + 1
        current.append(i)
        t_max, u_max = nt, nu
    if current:
        groups.append(current)
    return groups


def rnnt_loss_chunked(joiner, enc, enc_lengths, pred, targets, target_lengths, blank: int,
                      max_elements: int, clamp: float = -1.0, impl: str = "auto"):
    """Summed RNN-T loss of the batch, joined chunk by chunk (see the module docstring);
    a batch that fits in one chunk is not checkpointed (no recomputation)."""
    vocab = joiner.output.out_features
    if impl == "auto":
        impl = "torchaudio" if enc.is_cuda else "torch"
    total = enc.new_zeros(())
    groups = chunks_by_joint_size(enc_lengths, target_lengths, vocab, max_elements)
    empty = {i for i, u in enumerate(target_lengths.tolist()) if u == 0}  # one host copy
    for idx in groups:
        index = torch.tensor(idx, device=enc.device)
        t_len, u_len = enc_lengths[index], target_lengths[index]
        t, u = int(t_len.max()), int(u_len.max())
        e, p = enc[index, :t], pred[index, : u + 1]
        y = targets[index, :u].to(torch.int32)

        # torchaudio's CUDA kernel scores an empty target as 0 (tests/test_transducer.py):
        # chunks holding one take the plain-PyTorch loss
        plain = impl == "torch" or (enc.is_cuda and not empty.isdisjoint(idx))

        def chunk_loss(e, p, y=y, t_len=t_len, u_len=u_len, plain=plain):
            logits, _, _ = joiner(e, t_len, p, u_len + 1)
            if plain:
                return rnnt_loss_torch(logits, y, t_len, u_len, blank, reduction="sum")
            return torchaudio.functional.rnnt_loss(
                logits.float(), y, t_len.to(torch.int32), u_len.to(torch.int32), blank=blank,
                clamp=clamp, reduction="sum", fused_log_softmax=True)

        if len(groups) > 1 and torch.is_grad_enabled():
            total = total + checkpoint(chunk_loss, e, p, use_reentrant=False)
        else:
            total = total + chunk_loss(e, p)
    return total


@register_criterion("mslam_rnnt", dataclass=MSLAMRNNTCriterionConfig)
class MSLAMRNNTCriterion(FairseqCriterion):
    def __init__(self, task, rnnt_max_joint_elements=100_000_000, rnnt_clamp=-1.0,
                 rnnt_impl="auto"):
        super().__init__(task)
        self.max_elements, self.clamp, self.impl = rnnt_max_joint_elements, rnnt_clamp, rnnt_impl

    def _losses(self, model, out, sample) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The training loss (RNN-T + ctc_weight x CTC), the RNN-T loss and the auxiliary
        CTC loss (None without a CTC head), summed over utterances: called inside the
        model's forward."""
        rnnt = rnnt_loss_chunked(model.joiner, out["encoder_out"], out["encoder_lengths"],
                                 out["predictor_out"], sample["target"], sample["target_lengths"],
                                 model.blank, self.max_elements, self.clamp, self.impl)
        if model.ctc_head is None:
            return rnnt, rnnt, None
        ctc = self._ctc(model, out, sample)
        return rnnt + model.ctc_weight * ctc, rnnt, ctc

    def forward(self, model, sample, reduce=True):
        loss, rnnt, ctc = model(**sample["net_input"], target=sample["target"],
                                target_lengths=sample["target_lengths"],
                                loss_fn=lambda m, out: self._losses(m, out, sample))
        nsentences = sample["target"].size(0)
        if sample.get("placeholder"):  # every row of the batch was skipped when read
            loss, rnnt, ctc = loss * 0.0, rnnt * 0.0, None if ctc is None else ctc * 0.0
            nsentences = 0
        logging_output = {"loss": rnnt.data, "ntokens": sample["ntokens"],
                          "nsentences": nsentences, "sample_size": nsentences}
        if ctc is not None:
            logging_output["loss_ctc"] = ctc.data
        return loss, nsentences, logging_output

    @staticmethod
    def _ctc(model, out, sample) -> torch.Tensor:
        """Auxiliary CTC over graphemes on the encoder output, summed over utterances like
        the RNN-T loss (``--ctc-weight`` of mslam_transducer)."""
        lprobs = torch.log_softmax(model.ctc_head(out["encoder_out"]).float(), dim=-1)
        return torch.nn.functional.ctc_loss(
            lprobs.transpose(0, 1), sample["target"], out["encoder_lengths"],
            sample["target_lengths"], blank=model.blank, reduction="sum", zero_infinity=True)

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        total = lambda k: sum(float(log.get(k, 0)) for log in logging_outputs)
        n = max(total("nsentences"), 1.0)
        metrics.log_scalar("loss", total("loss") / n, n, round=3)  # nats per utterance
        metrics.log_scalar("loss_per_token", total("loss") / max(total("ntokens"), 1.0)
                           / math.log(2), total("ntokens"), round=3)
        if any("loss_ctc" in log for log in logging_outputs):
            metrics.log_scalar("loss_ctc", total("loss_ctc") / n, n, round=3)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
