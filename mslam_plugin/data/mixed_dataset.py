"""Mixed batches for joint pre-training (mSLAM section 3.2): every batch holds speech-only,
text-only and paired sequences in a fixed proportion (the paper: 2048 : 8192 : 256 per
step), each kind with its own size budget. Within each kind, languages are drawn with
temperature sampling, p_l proportional to (n_l / N)^(1/T), T = 3, then an item uniformly
within the language.

One dataset index is one whole mixed batch, planned when it is loaded from (seed, epoch,
index) in O(batch size), whatever the number of rows: the plan is deterministic, and so
are the masks, which the criterion draws from the batch's ``batch_seed``
(:class:`~mslam_plugin.modules.masking.BatchMasker`); and fairseq's iterator state (epoch, batches done) is enough to resume
mid-epoch. fairseq shards the batch indices over ranks, so N
ranks see N different mixed batches per update.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
from fairseq.data import FairseqDataset

from .item_source import ItemSource
from .sources import collate_speech, collate_tokens
from .temperature import language_weights

logger = logging.getLogger(__name__)
KINDS = ("speech", "text", "paired")
MIX_BATCHES = 200  # batches whose language mix is logged at the start of each epoch


def fill_budget(sizes: np.ndarray, budget: int) -> np.ndarray:
    """Which of ``sizes`` (sorted longest first) a greedy pass keeps: the first always,
    then each that still fits the budget. Vectorised: runs of consecutive items that fit
    are taken at once, items too large for what is left are skipped by binary search.

    Returns a boolean mask over ``sizes``."""
    keep = np.zeros(len(sizes), dtype=bool)
    if not len(sizes):
        return keep
    keep[0], left, pos = True, int(budget) - int(sizes[0]), 1
    while pos < len(sizes) and left > 0:
        pos += int(np.searchsorted(-sizes[pos:], -left, side="left"))  # first that fits
        if pos >= len(sizes):
            break
        run = np.cumsum(sizes[pos:])
        k = int(np.searchsorted(run, left, side="right"))
        keep[pos : pos + k] = True
        left -= int(run[k - 1])
        pos += k
    return keep


class MSLAMMixedDataset(FairseqDataset):
    def __init__(self, sources: dict[str, ItemSource], sequences: dict[str, int],
                 budgets: dict[str, int], num_batches: int, dictionary, *, seed: int = 1,
                 temperature: float = 3.0, name: str = "train"):
        self.sources = {k: s for k, s in sources.items() if s is not None and sequences.get(k, 0) > 0}
        self.sequences, self.budgets, self.num_batches = sequences, budgets, num_batches
        self.dictionary, self.seed, self.name = dictionary, seed, name
        self.probs = {}  # kind -> p_l over the source's lang_names
        for kind, src in self.sources.items():
            counts = {i: int(n) for i, n in enumerate(src.lang_counts) if n > 0}
            weights = language_weights(counts, temperature)
            p = np.zeros(len(src.lang_counts))
            p[list(weights)] = list(weights.values())
            self.probs[kind] = p / p.sum()
        self.language_mix: dict[str, Counter] = {}
        self.set_epoch(1)

    def set_epoch(self, epoch: int) -> None:
        """Batches are planned when loaded, each from (seed, epoch, index); the language
        mix logged here is that of the epoch's first :data:`MIX_BATCHES` batches."""
        self.epoch = epoch
        first = [self.plan_batch(i) for i in range(min(self.num_batches, MIX_BATCHES))]
        self.language_mix = {}
        for kind, src in self.sources.items():
            ids = np.concatenate([b[kind] for b in first]) if first else np.zeros(0, np.int64)
            counts = np.bincount(src.lang_of(ids), minlength=len(src.lang_names))
            mix = Counter({src.lang_names[i]: int(n) for i, n in enumerate(counts) if n})
            self.language_mix[kind] = mix
            total = sum(mix.values())
            top = ", ".join(f"{lang} {100 * n / total:.1f}%" for lang, n in mix.most_common(8))
            logger.info("%s epoch %d: %s language mix over %d sequences of %d batches in %d "
                        "languages: %s%s", self.name, epoch, kind, total, len(first), len(mix),
                        top, ", ..." if len(mix) > 8 else "")

    def plan_batch(self, index: int) -> dict[str, np.ndarray]:
        """Row indices of each kind for batch ``index`` of the current epoch: languages
        drawn from p_l, rows uniformly within them (O(1) each), then the longest first
        while they fit the kind's budget."""
        plan = {}
        for k, kind in enumerate(KINDS):
            if kind not in self.sources:
                continue
            src = self.sources[kind]
            rng = np.random.default_rng([self.seed, self.epoch, index + 1, k])
            per_lang = rng.multinomial(self.sequences[kind], self.probs[kind])  # O(languages)
            rows = src.draw(np.repeat(np.arange(len(per_lang)), per_lang), rng)
            sizes = src.sizes_of(rows)
            if sizes.sum() <= self.budgets[kind]:
                plan[kind] = rows
                continue
            order = np.argsort(-sizes, kind="stable")
            plan[kind] = rows[order[fill_budget(sizes[order], self.budgets[kind])]]
        return plan

    def __len__(self) -> int:
        return self.num_batches

    def num_tokens(self, index: int) -> int:
        return self._num_tokens(self.plan_batch(index))

    def _num_tokens(self, plan: dict) -> int:
        return sum(int(self.sources[k].sizes_of(plan[k]).sum()) for k in plan)

    def size(self, index: int) -> int:
        return self.num_tokens(index)

    def ordered_indices(self):
        return np.arange(self.num_batches)

    @property
    def can_reuse_epoch_itr_across_epochs(self) -> bool:
        return False  # the plan changes every epoch

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, index + 1])
        batch = {"id": index, "batch_seed": int(rng.integers(2 ** 31)), "nsentences": 0}
        plan = self.plan_batch(index)
        for kind, src in self.sources.items():
            items = [it for it in map(src.load, plan[kind].tolist()) if it is not None]
            if not items:  # every row of this kind was skipped when read
                continue
            part = {"langs": [it["lang"] for it in items], "ids": [it["id"] for it in items]}
            if kind != "text":
                part.update(collate_speech(items))
            if kind != "speech":
                part["tokens"] = collate_tokens([it["tokens"] for it in items],
                                                self.dictionary.pad())
            batch[kind] = part
            batch["nsentences"] += len(items)
        batch["ntokens"] = self._num_tokens(plan)
        return batch

    def collater(self, samples: list[dict]) -> dict:
        if not samples:
            return {}
        assert len(samples) == 1, "one dataset index is one mixed batch"
        return samples[0]
