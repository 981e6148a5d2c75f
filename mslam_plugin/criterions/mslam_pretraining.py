"""Criterion ``mslam_pretraining`` (mSLAM section 3.2): every objective of joint
pre-training, each with a ``<objective>_weight``; weight 0 removes the term and the
forward pass it needs.

* ``w2v_contrastive``: w2v-BERT / wav2vec 2.0 InfoNCE between the speech-encoder output
  at masked frames and the quantized target, against negatives drawn from the other
  masked frames of the same utterance, plus the codebook-diversity term
  (``w2v_diversity_weight``);
* ``w2v_mlm``: cross-entropy over the quantizer's code ids (argmax of its clean logits)
  of masked frames, on the multimodal-encoder output;
* ``text_mlm``: SpanBERT-style span-masked characters, on the multimodal output;
* ``tlm_text`` / ``tlm_speech``: both halves of masked speech + transcript;
* ``ctc``: CTC of the paired speech, encoded without its transcript (with the transcript
  in the same pass the model could copy it), against the character transcript.

mSLAM-TLM is ``ctc_weight=0``; a speech-only w2v-BERT baseline sets the text, TLM and
CTC weights to 0.
"""

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass

from ..data.char_vocab import BLANK, MASK
from ..modules.masking import BatchMasker

logger = logging.getLogger(__name__)
OBJECTIVES = ("w2v_contrastive", "w2v_mlm", "text_mlm", "tlm_text", "tlm_speech", "ctc")
QUANTIZER_KEYS = ("code_perplexity", "prob_perplexity", "quantizer_temp", "code_usage",
                  "loss_w2v_diversity", "frontend_l2")
# Every step logs the same keys (zeros for what it lacks): fairseq sums logging outputs
# across ranks and micro-batches by the keys of the first one.
LOG_KEYS = tuple(f"{p}_{o}" for o in OBJECTIVES
                 for p in ("loss", "n", "correct", "count", "chance")) \
    + QUANTIZER_KEYS + ("n_quantizer", "nonfinite_skipped", "degenerate_w2v_contrastive")


@dataclass
class MSLAMPretrainingCriterionConfig(FairseqDataclass):
    w2v_contrastive_weight: float = field(default=1.0, metadata={"help": "w2v-BERT contrastive loss"})
    w2v_mlm_weight: float = field(default=1.0, metadata={"help": "w2v-BERT masked code prediction"})
    w2v_diversity_weight: float = field(default=0.1, metadata={"help": "codebook diversity (wav2vec 2.0: 0.1)"})
    w2v_feature_penalty_weight: float = field(default=0.0, metadata={"help": "L2 penalty on the conv front-end's output before its norm, the mean square over valid frames (wav2vec 2.0: 10); logged as frontend_l2"})
    text_mlm_weight: float = field(default=1.0, metadata={"help": "text span MLM"})
    tlm_text_weight: float = field(default=1.0, metadata={"help": "TLM, text half"})
    tlm_speech_weight: float = field(default=1.0, metadata={"help": "TLM, speech half"})
    ctc_weight: float = field(default=1.0, metadata={"help": "CTC on paired speech (0: mSLAM-TLM)"})
    num_negatives: int = field(default=100, metadata={"help": "contrastive distractors per masked frame"})
    logit_temp: float = field(default=0.1, metadata={"help": "contrastive softmax temperature"})
    codebook_warn_usage: float = field(default=0.01, metadata={
        "help": "warn of codebook collapse when a training batch's distinct codes fall below "
                "this share of the codes it could use, min(codebook size, frames): 1% is 10 of "
                "1024; the tiny recipe's healthy batches use 40+ from the first updates, a "
                "collapsing run falls through 1% a few updates before it reaches 1 code"})
    codebook_warn_prob_perplexity: float = field(default=0.01, metadata={
        "help": "warn of codebook collapse when prob_perplexity falls below this share of the "
                "codebook: 1% is 10 of 1024; the tiny recipe's healthy runs start at 22-26 "
                "(their randomly projected logits are peaked) and rise, collapsed runs read 1"})
    codebook_warn_interval: int = field(default=100, metadata={
        "help": "training batches between two collapse warnings (fairseq's default "
                "--log-interval is 100 updates)"})


def span_start_prob(rate: float, span: int) -> float:
    """Start probability whose overlapping spans of ``span`` frames cover ``rate``."""
    return 1.0 - (1.0 - rate) ** (1.0 / span)


def distinct_rivals(neg_codes: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """Per row of ``neg_codes`` (n, K) (code ids of a row's negatives), the number of
    distinct codes among those not marked ``same`` (the positive's own code): (n,)."""
    codes = neg_codes.masked_fill(same, -1).sort(-1).values
    changes = (codes[:, 1:] != codes[:, :-1]).sum(-1)
    return changes + 1 - codes[:, 0].eq(-1).long()  # -1 is no rival


@register_criterion("mslam_pretraining", dataclass=MSLAMPretrainingCriterionConfig)
class MSLAMPretrainingCriterion(FairseqCriterion):
    def __init__(self, cfg: MSLAMPretrainingCriterionConfig, task):
        super().__init__(task)
        self.cfg = cfg
        self.weights = {k: getattr(cfg, f"{k}_weight") for k in OBJECTIVES}
        self.blank = task.source_dictionary.index(BLANK)
        self.pad = task.source_dictionary.pad()
        self.batches_since_warning = cfg.codebook_warn_interval  # the first collapse warns

    def _masker(self, seed: int) -> BatchMasker:
        """Every mask of the batch (speech and text) and its contrastive negatives come
        from one generator, seeded by the batch (the dataset's ``batch_seed``)."""
        d, cfg = self.task.source_dictionary, self.task.cfg
        return BatchMasker(seed, pad=d.pad(), mask_idx=d.index(MASK),
                           first_random=d.nspecial + 2, vocab_size=len(d),
                           speech_span=cfg.speech_mask_span,
                           text_mean_span=cfg.text_mean_span_length)

    def _cross_entropy(self, name, logits, target, out):
        """The term's loss and accuracy, and ``chance_<name>``: how many of the targets
        the batch's most frequent target is (a constant prediction's accuracy, the
        baseline of a masked-code or masked-character accuracy)."""
        out["losses"][name] = F.cross_entropy(logits.float(), target)
        out["stats"][f"correct_{name}"] = (logits.argmax(-1) == target).sum()
        out["stats"][f"chance_{name}"] = torch.bincount(target).max().float()
        out["log"][f"count_{name}"] = int(target.numel())

    def _contrastive(self, model, speech, rng, out):
        """w2v-BERT / wav2vec 2.0 InfoNCE (wav2vec 2.0 section 3.2): each masked frame's
        contrastive vector against its quantized target and ``num_negatives`` targets
        drawn uniformly, with replacement, from the *other masked* frames of its
        utterance. An utterance with one masked frame has no possible negative: its row
        is left out (the masking gives any utterance of 2+ frames 2+ masked frames).

        A negative with the positive's own code (``sample_ids``: the code each quantized
        vector is) is no distractor and is set to -inf; a row whose negatives all are
        (every one, at codebook collapse) is degenerate: its loss is 0 and its argmax
        trivially right, so accuracy counts only the other rows and
        ``degenerate_w2v_contrastive`` counts these.

        Negatives that share a code share a target vector, so a row's real candidates are
        its positive and the *distinct* rival codes among its negatives, not 1 +
        ``num_negatives``: a scorer that knows nothing picks the positive with probability
        1 / (1 + distinct rivals). ``chance_w2v_contrastive`` sums that over the counted
        rows, so its mean is the accuracy of chance on the same rows."""
        q, mask = speech.quantized, speech.mask
        out["diversity"] = (q.num_codes - q.prob_perplexity) / q.num_codes
        # rows follow mask.nonzero order: each utterance's masked frames are contiguous
        counts = mask.sum(-1).cpu().numpy()
        first = np.cumsum(counts) - counts
        utt = np.repeat(np.arange(len(counts)), counts)
        rows = np.flatnonzero(counts[utt] > 1)
        if len(rows) == 0:
            return
        x = model.contrastive_proj(speech.contrastive[mask]).float()              # (N, C)
        y = model.quantized_proj(q.quantized[mask]).float()                       # (N, C)
        others = counts[utt[rows]] - 1
        own = rows - first[utt[rows]]  # a row's place among its utterance's masked frames
        draw = np.floor(rng.random((len(rows), self.cfg.num_negatives)) * others[:, None])
        draw = draw.astype(np.int64)
        draw += draw >= own[:, None]  # skip the row itself
        neg = torch.from_numpy(first[utt[rows]][:, None] + draw).to(y.device)
        rows = torch.from_numpy(rows).to(y.device)
        targets = torch.cat([y[rows][:, None], y[neg]], dim=1)                    # (n, 1+K, C)
        logits = F.cosine_similarity(x[rows][:, None], targets, dim=-1) / self.cfg.logit_temp
        codes = q.sample_ids[mask]                                                # (N,)
        neg_codes = codes[neg]                                                    # (n, K)
        same = neg_codes == codes[rows][:, None]
        logits[:, 1:] = logits[:, 1:].masked_fill(same, float("-inf"))
        out["losses"]["w2v_contrastive"] = F.cross_entropy(logits, torch.zeros_like(rows))
        informative = ~same.all(-1)
        out["stats"].update(
            correct_w2v_contrastive=(informative & logits.argmax(-1).eq(0)).sum(),
            count_w2v_contrastive=informative.sum(),
            degenerate_w2v_contrastive=(~informative).sum(),
            chance_w2v_contrastive=(informative / (1.0 + distinct_rivals(neg_codes, same))).sum())

    def _speech(self, model, batch, masker, out):
        prob = self.task.cfg.speech_mask_prob
        speech = model.forward_speech(batch["fbank"], batch["fbank_padding_mask"],
                                      mask=lambda padding_mask: masker.speech(padding_mask, prob))
        if self.weights["w2v_contrastive"]:
            self._contrastive(model, speech, masker.rng, out)
        if self.weights["w2v_mlm"]:
            self._cross_entropy("w2v_mlm", model.code_head(speech.context[speech.mask]),
                                speech.quantized.code_ids[speech.mask], out)
        out["feature_penalty"] = speech.frontend_l2
        q = speech.quantized
        codes = q.code_ids[~speech.padding_mask]
        used = torch.bincount(codes, minlength=q.num_codes).gt(0).sum() / q.num_codes
        out["codebook"] = (q.num_codes, codes.numel())
        out["stats"].update(code_perplexity=q.code_perplexity, prob_perplexity=q.prob_perplexity,
                            code_usage=used, frontend_l2=speech.frontend_l2)
        out["log"].update(n_quantizer=1, quantizer_temp=float(q.temperature))

    def _text(self, model, batch, masker, out):
        chars = masker.text(batch["tokens"], self.task.cfg.text_mask_rate)
        text = model.forward_text(chars.tokens)
        self._cross_entropy("text_mlm", model.text_head(text.context[chars.mask]),
                            chars.target[chars.mask], out)

    def _tlm(self, model, batch, masker, out):
        prob = span_start_prob(self.task.cfg.tlm_speech_mask_rate, self.task.cfg.speech_mask_span)
        chars = masker.text(batch["tokens"], self.task.cfg.tlm_text_mask_rate)
        paired = model.forward_paired(batch["fbank"], batch["fbank_padding_mask"], chars.tokens,
                                      mask=lambda padding_mask: masker.speech(padding_mask, prob))
        if self.weights["tlm_text"]:
            self._cross_entropy("tlm_text", model.text_head(paired.text.context[chars.mask]),
                                chars.target[chars.mask], out)
        if self.weights["tlm_speech"]:
            sp = paired.speech
            self._cross_entropy("tlm_speech", model.code_head(sp.context[sp.mask]),
                                sp.quantized.code_ids[sp.mask], out)

    def _ctc(self, model, batch, out):
        speech = model.forward_speech(batch["fbank"], batch["fbank_padding_mask"], quantize=False)
        lprobs = F.log_softmax(model.ctc_logits(speech.context).float(), dim=-1).transpose(0, 1)
        transcript = batch["tokens"]
        target_lengths = transcript.ne(self.pad).sum(-1)
        input_lengths = (~speech.padding_mask).sum(-1)
        out["losses"]["ctc"] = F.ctc_loss(lprobs, transcript, input_lengths, target_lengths,
                                          blank=self.blank, reduction="mean", zero_infinity=True)

    def _objectives(self, model, sample) -> dict:
        """Every objective's forward pass and the weighted loss, called by the model's
        forward (so DistributedDataParallel sees every parameter a step uses). A batch
        with a non-finite loss, or with no objective at all, gets a zero loss over every
        parameter instead, built here too: every rank still runs the same backward."""
        out = {"losses": {}, "stats": {}, "log": {}, "diversity": None, "codebook": None,
               "feature_penalty": None}
        masker = self._masker(sample["batch_seed"])
        w = self.weights
        if "speech" in sample and (w["w2v_contrastive"] or w["w2v_mlm"]):
            self._speech(model, sample["speech"], masker, out)
        if "text" in sample and w["text_mlm"]:
            self._text(model, sample["text"], masker, out)
        if "paired" in sample and (w["tlm_text"] or w["tlm_speech"]):
            self._tlm(model, sample["paired"], masker, out)
        if "paired" in sample and w["ctc"]:
            self._ctc(model, sample["paired"], out)
        loss = sum(w[k] * v for k, v in out["losses"].items())
        if out["diversity"] is not None:
            loss = loss + self.cfg.w2v_diversity_weight * out["diversity"]
            out["stats"]["loss_w2v_diversity"] = out["diversity"]
        if out["feature_penalty"] is not None and self.cfg.w2v_feature_penalty_weight:
            loss = loss + self.cfg.w2v_feature_penalty_weight * out["feature_penalty"]
        for name, value in out["losses"].items():
            out["stats"][f"loss_{name}"] = value
            out["log"][f"n_{name}"] = 1
        # one host sync for every logged tensor instead of one each
        names = list(out["stats"])
        values = (torch.stack([out["stats"][k].detach().float() for k in names]).tolist()
                  if names else [])
        out["values"] = dict(zip(names, values))
        out["skipped"] = not all(math.isfinite(v) for v in values)
        out["empty"] = not torch.is_tensor(loss)  # e.g. every row skipped when read
        if out["skipped"] or out["empty"]:  # nothing to learn from in this batch
            loss = sum((p.nan_to_num() * 0.0).sum() for p in model.parameters())
        out["loss"] = loss
        return out

    def forward(self, model, sample, reduce=True):
        out = model(loss_fn=lambda m: self._objectives(m, sample))
        stats, skipped, empty = out["values"], out["skipped"], out["empty"]
        log = dict.fromkeys(LOG_KEYS, 0)
        if skipped:
            logger.warning("batch %s: non-finite loss skipped (%s)", sample.get("id"),
                           {k: round(v, 4) for k, v in stats.items() if k.startswith("loss_")})
        elif not empty:
            log.update(out["log"], **stats)
            if out["codebook"] is not None and model.training:
                self._watch_codebook(stats, *out["codebook"])
        logged_loss = 0.0 if skipped or empty else (
            sum(self.weights[k] * stats[f"loss_{k}"] for k in out["losses"])
            + self.cfg.w2v_diversity_weight * stats.get("loss_w2v_diversity", 0.0)
            + self.cfg.w2v_feature_penalty_weight * stats.get("frontend_l2", 0.0))
        # a batch without a finite loss is counted, never averaged into the loss as 0
        log.update(loss=logged_loss, sample_size=int(not (skipped or empty)),
                   nsentences=sample.get("nsentences", 0), ntokens=sample.get("ntokens", 0),
                   nonfinite_skipped=int(skipped))
        return out["loss"], 1, log

    def _watch_codebook(self, stats, num_codes, frames):
        """Warn, at most once per ``codebook_warn_interval`` batches, of codebook collapse:
        the contrastive loss then reads 0 (every negative shares the positive's code), so
        no loss curve shows it."""
        self.batches_since_warning += 1
        if self.batches_since_warning < self.cfg.codebook_warn_interval:
            return
        if torch.distributed.is_initialized() and torch.distributed.get_rank() != 0:
            return  # one warning per job, not one per rank
        used = round(stats["code_usage"] * num_codes)
        if (used >= self.cfg.codebook_warn_usage * min(num_codes, frames)
                and stats["prob_perplexity"] >= self.cfg.codebook_warn_prob_perplexity * num_codes):
            return
        self.batches_since_warning = 0
        logger.warning(
            "codebook collapse: this batch's %d frames use %d of %d codes (code_usage %.4f, "
            "warned below %.0f%% of min(codes, frames)), prob_perplexity %.1f (warned below "
            "%.0f%% of %d); the contrastive loss and accuracy mean little now. A larger "
            "--w2v-diversity-weight or a lower --lr prevents it (README: what a healthy run "
            "looks like)", frames, used, num_codes, stats["code_usage"],
            100 * self.cfg.codebook_warn_usage, stats["prob_perplexity"],
            100 * self.cfg.codebook_warn_prob_perplexity, num_codes)

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        total = lambda key: sum(log.get(key, 0) for log in logging_outputs)
        batches = max(total("sample_size"), 1)
        metrics.log_scalar("loss", total("loss") / batches, batches, round=3)
        for name in OBJECTIVES:
            n = total(f"n_{name}")
            if n:
                metrics.log_scalar(f"loss_{name}", total(f"loss_{name}") / n, n, round=3)
            count = total(f"count_{name}")
            if count:
                metrics.log_scalar(f"acc_{name}", total(f"correct_{name}") / count, count, round=4)
                # the same rows' accuracy without information (see _contrastive, _cross_entropy)
                metrics.log_scalar(f"chance_{name}", total(f"chance_{name}") / count, count,
                                   round=4)
        # share of contrastive rows whose negatives all share the positive's code: 1.0 at
        # codebook collapse, when acc_w2v_contrastive has no row left to count
        rows = total("count_w2v_contrastive") + total("degenerate_w2v_contrastive")
        if rows:
            metrics.log_scalar("degenerate_w2v_contrastive",
                               total("degenerate_w2v_contrastive") / rows, rows, round=4)
        if total("nonfinite_skipped"):
            metrics.log_scalar("nonfinite_skipped", total("nonfinite_skipped"), 1, round=0)
        nq = total("n_quantizer")
        if nq:
            for key in QUANTIZER_KEYS:
                metrics.log_scalar(key, total(key) / nq, nq, round=4)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
