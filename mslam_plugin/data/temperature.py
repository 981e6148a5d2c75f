"""Temperature sampling over languages (mSLAM section 3.2, after XLM-R / mT5): language
``l`` with ``n_l`` of ``N`` items is weighted p_l proportional to (n_l / N)^(1/T). T = 1
keeps the natural mix, a large T flattens it toward uniform. Pre-training batches sample
languages with these weights, and the character vocabulary ranks characters by them."""

from __future__ import annotations


def language_weights(sizes: dict[str, int], temperature: float) -> dict[str, float]:
    """p_l proportional to (n_l / N)^(1/T); T=1 keeps the natural mix, large T flattens it."""
    if temperature <= 0:
        raise ValueError(f"`temperature` must be positive, but is {temperature} instead.")
    total = sum(sizes.values())
    if total == 0:
        raise ValueError("no text to build a vocabulary from")
    raw = {lang: (n / total) ** (1.0 / temperature) for lang, n in sizes.items() if n > 0}
    norm = sum(raw.values())
    return {lang: w / norm for lang, w in raw.items()}
