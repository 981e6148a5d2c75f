"""Paired bootstrap tests on BLEU between the ablation's runs (examples/ablation/report.py
uses them to mark the paper's findings): a difference between two variants on one task,
and a difference between two variants' gains from speech + text fine-tuning."""

from __future__ import annotations

import statistics

import numpy as np
from results import translations

# pairs tested by bootstrap: (better?, baseline, task)
PAIRS = (("b", "a", "st"), ("c", "b", "st"), ("c", "a", "st"), ("c", "d", "st"),
         ("b", "a", "st_text"), ("c", "b", "st_text"), ("c", "a", "st_text"),
         ("c", "d", "st_text"))
# variants whose gain from speech + text fine-tuning mSLAM-CTC's is tested against
GAINS = ("a", "b")


def bootstrap(refs: list[str], units: list[str], runs: dict,
              terms: list[tuple[int, str, str]], samples: int, seed: int = 12345) -> dict | None:
    """Paired bootstrap (Koehn 2004) over test *units* of a signed sum of BLEU scores:
    ``terms`` (sign, task, variant), e.g. [(1, "st", "c"), (-1, "st", "b")] for c - b, or
    the difference of two variants' gains from text fine-tuning. A unit's rows (one per
    language, sharing the English reference) are drawn together, and the same draw scores
    every term; a term's BLEU is the mean over its seeds' corpus BLEU, on the seeds whose
    translations every term has (``runs``: (task, variant) -> {seed: result}, results as
    examples/ablation/results.py writes them). ``p`` is the share of draws in which the
    sum is not positive (< 0.05: it is; > 0.95: it is negative)."""
    from sacrebleu.metrics import BLEU

    bleu = BLEU()
    n = len(refs)
    seeds = sorted(set.intersection(*({s for s, r in runs.get((task, v), {}).items()
                                       if translations(r, n) is not None}
                                      for _, task, v in terms)))
    if not seeds:
        return None
    stats = []
    for sign, task, v in terms:
        per_seed = []
        for s in seeds:
            hyps = translations(runs[task, v][s], n)
            # sacrebleu's own significance module works on these per-sentence statistics
            per_seed.append(np.array(bleu._extract_corpus_statistics(hyps, [refs])))
        stats.append((sign, per_seed))
    groups = {}
    for row, unit in enumerate(units):
        groups.setdefault(unit, []).append(row)
    groups = list(groups.values())
    rng = np.random.default_rng(seed)

    def score(idx):
        return sum(sign * statistics.fmean(
            bleu._compute_score_from_stats(st[idx].sum(0).tolist()).score for st in per_seed)
            for sign, per_seed in stats)

    delta = score(np.arange(len(refs)))
    worse = 0
    for _ in range(samples):
        idx = np.concatenate([groups[g] for g in rng.integers(0, len(groups), len(groups))])
        worse += score(idx) <= 0
    return {"terms": [list(t) for t in terms], "seeds": seeds, "delta_bleu": round(delta, 2),
            "p": round((worse + 1) / (samples + 1), 4), "units": len(groups)}


def significance(refs: list[str], units: list[str], runs: dict, samples: int) -> list[dict]:
    """The bootstrap tests the findings use: each pair of PAIRS (better - base on one
    task), and mSLAM-CTC's gain from text fine-tuning against each other variant's
    (c's (ST+text - ST) minus the other's)."""
    tests = []
    for better, base, task in PAIRS:
        t = bootstrap(refs, units, runs, [(1, task, better), (-1, task, base)], samples)
        if t:
            tests.append(dict(t, better=better, base=base, task=task))
    for other in GAINS:
        terms = [(1, "st_text", "c"), (-1, "st", "c"), (-1, "st_text", other), (1, "st", other)]
        t = bootstrap(refs, units, runs, terms, samples)
        if t:
            tests.append(dict(t, better="c", base=other, task="text gain"))
    return tests
