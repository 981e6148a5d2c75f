"""Scoring per language and overall: BLEU and chrF (sacrebleu) for translation, WER and CER
(jiwer) for speech recognition.

Translation hypotheses come from fairseq-generate's output (``D-<id>`` lines hold the
detokenised hypothesis of example ``<id>``, the row number in the generated split's TSV);
references are the TSV's raw ``tgt_text`` and the language its ``src_lang``. Recognition
hypotheses and references are compared in :func:`~mslam_plugin.data.text.normalize_for_scoring`
form. The command: ``mslam-score st`` (``python -m mslam_plugin.scoring st``).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

from ..data.manifest import read_tsv
from ..data.text import normalize_for_scoring

_D_LINE = re.compile(r"^D-(\d+)\t[^\t]*\t(.*)$")


def read_generate_output(path: str | Path) -> dict[int, str]:
    """Example id -> detokenised hypothesis, from fairseq-generate's stdout."""
    hyps = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = _D_LINE.match(line.rstrip("\n"))
            if m:
                hyps[int(m.group(1))] = m.group(2)
    return hyps


def _per_language(score, langs: list[str]) -> dict:
    """{"all": score(every index), "<lang>": score(its indices), ...}, languages sorted."""
    groups = defaultdict(list)
    for i, lang in enumerate(langs):
        groups[lang].append(i)
    return {"all": score(list(range(len(langs)))),
            **{lang: score(idx) for lang, idx in sorted(groups.items())}}


def translation_scores(hyps: list[str], refs: list[str], langs: list[str]) -> dict:
    """{"all": {...}, "<lang>": {...}} with bleu, chrf and n for each group."""
    import sacrebleu

    def score(idx):
        h, r = [hyps[i] for i in idx], [[refs[i] for i in idx]]
        return {"bleu": round(sacrebleu.corpus_bleu(h, r).score, 2),
                "chrf": round(sacrebleu.corpus_chrf(h, r).score, 2), "n": len(idx)}

    return _per_language(score, langs)


def recognition_scores(hyps: list[str], refs: list[str], langs: list[str]) -> dict:
    """{"all": {...}, "<lang>": {...}} with wer, cer (in %) and n for each group."""
    import jiwer

    def score(idx):
        h, r = [hyps[i] for i in idx], [refs[i] for i in idx]
        return {"wer": round(100 * jiwer.wer(r, h), 2), "cer": round(100 * jiwer.cer(r, h), 2),
                "n": len(idx)}

    return _per_language(score, langs)


def write_recognition(rows: list[dict], out: Path, split: str, mode: str,
                      extra: dict | None = None) -> dict:
    """Score recognition rows (id, lang, reference, hypothesis), write
    OUT/hyps-SPLIT-MODE.tsv and OUT/scores-SPLIT-MODE.json (with ``extra`` entries added),
    print the table; returns the scores."""
    scores = recognition_scores([normalize_for_scoring(r["hypothesis"]) for r in rows],
                                [normalize_for_scoring(r["reference"]) for r in rows],
                                [r["lang"] for r in rows])
    out.mkdir(parents=True, exist_ok=True)
    clean = lambda text: " ".join(str(text).split())  # no tab or newline breaks the TSV
    with open(out / f"hyps-{split}-{mode}.tsv", "w", encoding="utf-8") as f:
        f.write("id\tlang\treference\thypothesis\n")
        for r in rows:
            f.write("\t".join(clean(r[k]) for k in ("id", "lang", "reference", "hypothesis"))
                    + "\n")
    (out / f"scores-{split}-{mode}.json").write_text(
        json.dumps({**scores, **(extra or {})}, indent=1) + "\n")
    print(format_table(scores, ("wer", "cer")))
    return scores


def score_generate_output(generate_output: str | Path, manifest: str | Path) -> dict:
    rows = read_tsv(manifest)
    hyps = read_generate_output(generate_output)
    missing = [i for i in range(len(rows)) if i not in hyps]
    if missing or len(hyps) != len(rows):
        raise ValueError(f"{generate_output}: hypotheses for {len(hyps)} of the {len(rows)} "
                         f"examples of {manifest} (first missing: row {missing[:3]}); was it "
                         "generated from this split?")
    return translation_scores([hyps[i] for i in range(len(rows))],
                              [r["tgt_text"] for r in rows],
                              [r.get("src_lang", "all") for r in rows])


def format_table(scores: dict, metrics: tuple[str, ...]) -> str:
    lines = ["| lang | n | " + " | ".join(metrics) + " |",
             "|---|---|" + "---|" * len(metrics)]
    for lang, s in scores.items():
        lines.append(f"| {lang} | {s['n']} | " + " | ".join(f"{s[m]:.2f}" for m in metrics) + " |")
    return "\n".join(lines)
