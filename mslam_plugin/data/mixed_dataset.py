"""Mixed batches for joint pre-training (mSLAM section 3.2): every batch holds speech-only,
text-only and paired sequences in a fixed proportion (the paper: 2048 : 8192 : 256 per
step), each kind with its own size budget. Within each kind, languages are drawn with
temperature sampling, p_l proportional to (n_l / N)^(1/T), T = 3, then an item uniformly
within the language.

One dataset index is one whole mixed batch, planned per epoch from (seed, epoch): the
plan and every mask are deterministic, and fairseq's iterator state (epoch, batches
done) is enough to resume mid-epoch. fairseq shards the batch indices over ranks, so N
ranks see N different mixed batches per update.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import torch
from fairseq.data import FairseqDataset

from ..modules.masking import text_span_ids
from .char_vocab import language_weights
from .sources import ItemSource, collate_speech, collate_tokens

logger = logging.getLogger(__name__)
KINDS = ("speech", "text", "paired")


class MSLAMMixedDataset(FairseqDataset):
    def __init__(self, sources: dict[str, ItemSource], sequences: dict[str, int],
                 budgets: dict[str, int], num_batches: int, dictionary, *, seed: int = 1,
                 temperature: float = 3.0, text_mask_rate: float = 0.15,
                 tlm_text_mask_rate: float = 0.5, text_mean_span_length: float = 20.0,
                 name: str = "train"):
        self.sources = {k: s for k, s in sources.items() if s is not None and sequences.get(k, 0) > 0}
        self.sequences, self.budgets, self.num_batches = sequences, budgets, num_batches
        self.dictionary, self.seed, self.name = dictionary, seed, name
        self.text_mask_rate, self.tlm_text_mask_rate = text_mask_rate, tlm_text_mask_rate
        self.text_mean_span_length = text_mean_span_length
        self.mask_idx = dictionary.index("<mask>")
        self.probs = {}
        for kind, src in self.sources.items():
            counts = Counter(src.langs.tolist())
            weights = language_weights(counts, temperature)
            self.probs[kind] = {lang: weights[lang] / counts[lang] for lang in counts}
        self.language_mix: dict[str, Counter] = {}
        self.set_epoch(1)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        rng = np.random.default_rng([self.seed, epoch, 0])
        self.plan = [{k: self._draw(k, rng) for k in self.sources} for _ in range(self.num_batches)]
        self.language_mix = {k: Counter(lang for b in self.plan for lang in
                                        self.sources[k].langs[b[k]].tolist())
                             for k in self.sources}
        for kind, mix in self.language_mix.items():
            total = sum(mix.values())
            top = ", ".join(f"{lang} {100 * n / total:.1f}%" for lang, n in mix.most_common(8))
            logger.info("%s epoch %d: %s language mix over %d sequences in %d languages: %s%s",
                        self.name, epoch, kind, total, len(mix), top,
                        ", ..." if len(mix) > 8 else "")

    def _draw(self, kind: str, rng: np.random.Generator) -> list[int]:
        """Item indices of one kind for one batch: temperature-sampled, within budget."""
        src = self.sources[kind]
        p = np.array([self.probs[kind][lang] for lang in src.langs])
        picks = rng.choice(len(src), size=self.sequences[kind], p=p / p.sum())
        kept, used = [], 0
        for i in sorted(picks.tolist(), key=lambda i: -src.sizes[i]):
            if kept and used + src.sizes[i] > self.budgets[kind]:
                continue
            kept.append(i)
            used += int(src.sizes[i])
        return kept

    def __len__(self) -> int:
        return self.num_batches

    def num_tokens(self, index: int) -> int:
        return sum(int(self.sources[k].sizes[self.plan[index][k]].sum()) for k in self.sources)

    def size(self, index: int) -> int:
        return self.num_tokens(index)

    def ordered_indices(self):
        return np.arange(self.num_batches)

    @property
    def can_reuse_epoch_itr_across_epochs(self) -> bool:
        return False  # the plan changes every epoch

    def _mask_text(self, tokens: torch.Tensor, rate: float, rng) -> dict:
        """SpanBERT corruption (section 3.1): each masked span as a whole becomes <mask>
        80%, random characters 10%, unchanged 10% (a draw per character would leave about
        one character in ten of nearly every span visible: a hint span masking withholds);
        the target holds the original id there and pad elsewhere."""
        pad = self.dictionary.pad()
        spans = text_span_ids(tokens.eq(pad), rate, self.text_mean_span_length, rng)
        mask = spans.ge(0)
        num_spans = int(spans.max()) + 1 if spans.numel() else 0
        span_roll = torch.from_numpy(rng.random((tokens.size(0), max(num_spans, 1))))
        roll = span_roll.gather(1, spans.clamp(min=0))  # each character takes its span's draw
        randoms = torch.from_numpy(rng.integers(self.dictionary.nspecial + 2, len(self.dictionary),
                                                size=tuple(tokens.shape)))
        corrupted = torch.where(mask & (roll < 0.8), self.mask_idx, tokens)
        corrupted = torch.where(mask & (roll >= 0.8) & (roll < 0.9), randoms, corrupted)
        return {"tokens": corrupted, "target": tokens.masked_fill(~mask, pad), "mask": mask}

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, index + 1])
        batch = {"id": index, "batch_seed": int(rng.integers(2 ** 31)), "nsentences": 0}
        for kind, src in self.sources.items():
            items = [it for it in map(src.load, self.plan[index][kind]) if it is not None]
            if not items:  # every row of this kind was skipped when read
                continue
            part = {"langs": [it["lang"] for it in items], "ids": [it["id"] for it in items]}
            if kind != "text":
                part.update(collate_speech(items))
            if kind != "speech":
                tokens = collate_tokens([it["tokens"] for it in items], self.dictionary.pad())
                rate = self.text_mask_rate if kind == "text" else self.tlm_text_mask_rate
                part.update(self._mask_text(tokens, rate, rng))
                part["transcript"] = tokens
            batch[kind] = part
            batch["nsentences"] += len(items)
        batch["ntokens"] = self.num_tokens(index)
        return batch

    def collater(self, samples: list[dict]) -> dict:
        if not samples:
            return {}
        assert len(samples) == 1, "one dataset index is one mixed batch"
        return samples[0]
