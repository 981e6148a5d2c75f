"""Decoding of mslam_transducer: batched greedy search, and beam search through
torchaudio's RNNTBeamSearch (one utterance at a time), behind a generator object that
fairseq-generate drives like its SequenceGenerator."""

from __future__ import annotations

import torch
from torchaudio.models import RNNTBeamSearch


@torch.no_grad()
def greedy_search(model, fbank: torch.Tensor, lengths: torch.Tensor,
                  max_symbols_per_frame: int = 10) -> list[tuple[list[int], float]]:
    """Best path, frame by frame: emit the arg-max symbol until it is blank (at most
    ``max_symbols_per_frame`` per frame). The whole batch advances together; the
    prediction network only takes a step for the utterances that emitted."""
    enc, enc_lengths = model.rnnt.transcribe(fbank, lengths)
    b, t_max = enc.shape[:2]
    blank = model.blank
    ones = torch.ones(b, dtype=torch.int32, device=enc.device)
    pred, _, state = model.rnnt.predict(torch.full((b, 1), blank, device=enc.device), ones, None)
    hyps: list[list[int]] = [[] for _ in range(b)]
    scores = torch.zeros(b, device=enc.device)
    for t in range(t_max):
        active = enc_lengths > t
        for _ in range(max_symbols_per_frame):
            logits, _, _ = model.rnnt.join(enc[:, t : t + 1], ones, pred, ones)
            logp = logits[:, 0, 0].float().log_softmax(-1)
            best, k = logp.max(-1)
            scores += torch.where(active, best, torch.zeros_like(best))
            emit = active & (k != blank)
            if not bool(emit.any()):
                break
            new_pred, _, new_state = model.rnnt.predict(k[:, None], ones, state)
            keep = emit[:, None]
            pred = torch.where(keep[:, :, None], new_pred, pred)
            state = [[torch.where(keep, n, o) for n, o in zip(ns, os)]
                     for ns, os in zip(new_state, state)]
            for i in emit.nonzero().flatten().tolist():
                hyps[i].append(int(k[i]))
            active = emit
    return [(h, float(s)) for h, s in zip(hyps, scores.tolist())]


def _total_score(hypo) -> float:
    return hypo[3]


@torch.no_grad()
def beam_search(model, fbank: torch.Tensor, lengths: torch.Tensor, beam: int,
                max_symbols_per_frame: int = 10) -> list[tuple[list[int], float]]:
    """torchaudio's RNNTBeamSearch over each utterance; the best hypothesis (its tokens
    without the leading blank) and its score. Hypotheses are ranked by total
    log-probability: torchaudio's default ranks by score per token, which favours long
    hypotheses (an undertrained model then emits thousands of symbols, and the search's
    per-hypothesis bookkeeping grows with their length)."""
    searcher = RNNTBeamSearch(model.rnnt, model.blank, hypo_sort_key=_total_score,
                              step_max_tokens=max_symbols_per_frame)
    out = []
    for i in range(fbank.size(0)):
        n = int(lengths[i])
        best = searcher(fbank[i : i + 1, :n], lengths[i : i + 1], beam)[0]
        out.append((list(best[0][1:]), float(best[3])))
    return out


def decode(model, fbank, lengths, beam: int) -> list[tuple[list[int], float]]:
    return greedy_search(model, fbank, lengths) if beam <= 1 else beam_search(model, fbank, lengths, beam)


class RNNTGenerator:
    """What fairseq-generate needs from a generator: ``generate(models, sample)`` giving,
    per utterance, a list holding the best hypothesis."""

    def __init__(self, models, tgt_dict, beam: int = 4):
        self.model, self.beam = models[0], beam
        self.eos = tgt_dict.eos()  # fairseq-generate strips it from printed output

    @torch.no_grad()
    def generate(self, models, sample, **kwargs):
        model = models[0]
        model.eval()
        net = sample["net_input"]
        results = []
        for tokens, score in decode(model, net["src_tokens"], net["src_lengths"], self.beam):
            t = torch.tensor(tokens, dtype=torch.long)
            results.append([{"tokens": t, "score": score, "alignment": None,
                             "positional_scores": torch.zeros(len(tokens))}])
        return results
