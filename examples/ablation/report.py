"""Collect the ablation's result files into one summary (the last stage of
examples/ablation/run.sh): mean and standard deviation over seeds of every cell, paired
bootstrap tests on BLEU between pre-training variants, the paper's four findings marked
from the numbers, a markdown table and a plot.

usage: python examples/ablation/report.py --exp EXP [--samples 1000]
Writes EXP/results/summary.json, EXP/results/table.md and EXP/results/ablation.png.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

import numpy as np

VARIANTS = {"a": "w2v-BERT (speech only)", "b": "mSLAM-TLM", "c": "mSLAM-CTC",
            "d": "no pre-training", "blind": "blind decoder (control)"}
# (column, result file prefix, path into the result JSON)
CELLS = (("ASR CER", "asr", ("all", "cer")), ("ASR WER", "asr", ("all", "wer")),
         ("ST BLEU", "st", ("speech", "all", "bleu")), ("ST chrF", "st", ("speech", "all", "chrf")),
         ("ST+text BLEU", "st_text", ("speech", "all", "bleu")),
         ("ST+text chrF", "st_text", ("speech", "all", "chrf")),
         ("zero-shot text BLEU", "st", ("text", "all", "bleu")),
         ("zero-shot text chrF", "st", ("text", "all", "chrf")))
PROBES = (("retrieval s->t R@1", ("retrieval_centred", "within_language", "speech_to_text", "r@1")),
          ("retrieval s->t R@5", ("retrieval_centred", "within_language", "speech_to_text", "r@5")),
          ("retrieval t->s R@1", ("retrieval_centred", "within_language", "text_to_speech", "r@1")),
          ("LID accuracy", ("lid_accuracy",)))
# pairs tested by bootstrap: (better?, baseline, task)
PAIRS = (("b", "a", "st"), ("c", "b", "st"), ("c", "a", "st"), ("c", "d", "st"),
         ("b", "a", "st_text"), ("c", "b", "st_text"), ("c", "a", "st_text"),
         ("c", "d", "st_text"))
_RUN = re.compile(r"^(asr|st|st_text)_(a|b|c|d|blind)_s(\d+)\.json$")


def dig(d, path):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def read_runs(res: Path) -> dict:
    """(task, variant) -> {seed: result dict}."""
    runs: dict = {}
    for path in sorted(res.glob("*.json")):
        m = _RUN.match(path.name)
        if m:
            runs.setdefault((m.group(1), m.group(2)), {})[int(m.group(3))] = json.loads(path.read_text())
    return runs


def mean_sd(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"mean": round(statistics.fmean(values), 2),
            "sd": round(statistics.stdev(values), 2) if len(values) > 1 else None,
            "n": len(values), "values": values}


def cells(runs: dict, probes: dict) -> dict:
    out = {}
    for v in VARIANTS:
        row = {}
        for name, task, path in CELLS:
            vals = [dig(r, path) for _, r in sorted(runs.get((task, v), {}).items())]
            row[name] = mean_sd([x for x in vals if x is not None])
        for name, path in PROBES:
            x = dig(probes.get(v, {}), path)
            row[name] = mean_sd([x]) if x is not None else None
        out[v] = row
    return out


def hypotheses(exp: Path, task: str, variant: str, seed: int, n: int):
    from mslam_plugin.scoring import read_generate_output, read_tsv

    gen = exp / f"{task}_{variant}_s{seed}" / "decode" / "generate-test_st-speech.txt"
    if not gen.is_file():
        return None
    hyps = read_generate_output(gen)
    return [hyps.get(i, "") for i in range(n)] if len(hyps) == n else None


def bootstrap(exp: Path, data_refs: list[str], runs: dict, better: str, base: str, task: str,
              samples: int, seed: int = 12345) -> dict | None:
    """Paired bootstrap over test sentences (Koehn 2004): the same resampled sentences
    score both variants; each side's BLEU is the mean over its seeds' corpus BLEU. p is the
    share of resamples in which ``better`` does not beat ``base``."""
    from sacrebleu.metrics import BLEU

    bleu = BLEU()
    seeds = sorted(set(runs.get((task, better), {})) & set(runs.get((task, base), {})))
    stats = {}
    for v in (better, base):
        per_seed = []
        for s in seeds:
            hyps = hypotheses(exp, task, v, s, len(data_refs))
            if hyps is None:
                return None
            # sacrebleu's own significance module works on these per-sentence statistics
            per_seed.append(np.array(bleu._extract_corpus_statistics(hyps, [data_refs])))
        stats[v] = per_seed
    if not seeds:
        return None
    rng = np.random.default_rng(seed)
    n = len(data_refs)

    def score(v, idx):
        return statistics.fmean(bleu._compute_score_from_stats(st[idx].sum(0).tolist()).score
                                for st in stats[v])

    full = np.arange(n)
    delta = score(better, full) - score(base, full)
    worse = 0
    for _ in range(samples):
        idx = rng.integers(0, n, n)
        worse += score(better, idx) - score(base, idx) <= 0
    return {"task": task, "better": better, "base": base, "seeds": seeds,
            "delta_bleu": round(delta, 2), "p": round((worse + 1) / (samples + 1), 4)}


def finding(delta: float | None, sd: float | None, expect_positive: bool, p: float | None = None
            ) -> str:
    """reproduced / not reproduced / inconclusive from a difference of means, its seed
    spread and (where there is one) the bootstrap p-value."""
    if delta is None:
        return "not run"
    if p is not None:
        significant = p < 0.05 if expect_positive else p > 0.95
    else:
        significant = sd is not None and abs(delta) > 2 * sd
    if not significant:
        return "inconclusive"
    return "reproduced" if (delta > 0) == expect_positive else "not reproduced"


def findings(table: dict, tests: list[dict]) -> list[dict]:
    def m(v, col):
        c = table[v].get(col)
        return c["mean"] if c else None

    def sd(v, col):
        c = table[v].get(col)
        return c["sd"] if c else None

    def diff(x, y, col):
        return None if m(x, col) is None or m(y, col) is None else round(m(x, col) - m(y, col), 2)

    def p_of(better, base, task):
        for t in tests:
            if (t["better"], t["base"], t["task"]) == (better, base, task):
                return t["p"]
        return None

    def spread(*pairs):
        vals = [sd(v, c) for v, c in pairs if sd(v, c) is not None]
        return max(vals) if vals else None

    out = []
    d = diff("b", "a", "ST BLEU")
    p = p_of("b", "a", "st")  # the paper: TLM alone is worse than speech-only (p near 1)
    out.append({"finding": "mSLAM-TLM translates speech worse than speech-only w2v-BERT",
                "numbers": f"ST BLEU TLM - w2v-BERT = {d}", "p_tlm_better": p,
                "status": finding(None if d is None else -d, spread(("a", "ST BLEU"), ("b", "ST BLEU")),
                                  True, None if p is None else 1 - p)})
    d = diff("c", "b", "ST BLEU")
    out.append({"finding": "adding CTC (mSLAM-CTC) recovers and beats it",
                "numbers": f"ST BLEU CTC - TLM = {d}, CTC - w2v-BERT = {diff('c', 'a', 'ST BLEU')}",
                "p": p_of("c", "a", "st"),
                "status": finding(diff("c", "a", "ST BLEU"),
                                  spread(("a", "ST BLEU"), ("c", "ST BLEU")), True,
                                  p_of("c", "a", "st"))})
    gain = {v: (None if m(v, "ST+text BLEU") is None or m(v, "ST BLEU") is None
                else round(m(v, "ST+text BLEU") - m(v, "ST BLEU"), 2)) for v in "abcd"}
    out.append({"finding": "speech + text fine-tuning helps the multimodal model most",
                "numbers": "BLEU gain from text: " + ", ".join(f"{v} {g}" for v, g in gain.items()),
                "status": finding(None if gain["c"] is None or gain["a"] is None
                                  else gain["c"] - gain["a"],
                                  spread(("a", "ST+text BLEU"), ("c", "ST+text BLEU")), True)})
    d = diff("c", "a", "ASR CER")
    s = spread(("a", "ASR CER"), ("c", "ASR CER"))
    out.append({"finding": "ASR stays about the same (CER within 2 seed SDs)",
                "numbers": f"ASR CER CTC - w2v-BERT = {d} (seed sd {s})",
                "status": "not run" if d is None else "inconclusive" if s is None
                else "reproduced" if abs(d) <= 2 * s else "not reproduced"})
    zs, blind = m("c", "zero-shot text chrF"), m("blind", "zero-shot text chrF")
    out.append({"finding": "speech-only fine-tuning translates text zero-shot",
                "numbers": f"zero-shot text chrF mSLAM-CTC {zs} vs blind decoder {blind}",
                "status": finding(None if zs is None or blind is None else zs - blind,
                                  spread(("c", "zero-shot text chrF"), ("blind", "zero-shot text chrF")),
                                  True)})
    return out


def markdown(table: dict) -> str:
    cols = [c[0] for c in CELLS] + [p[0] for p in PROBES]
    lines = ["| variant | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for v, name in VARIANTS.items():
        row = table[v]
        fmt = lambda c: "" if c is None else (f"{c['mean']:.2f}" + (f" ± {c['sd']:.2f}" if c["sd"] is not None else ""))
        lines.append(f"| {name} | " + " | ".join(fmt(row[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def plot(table: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = ("ASR CER", "ST BLEU", "ST+text BLEU", "zero-shot text chrF")
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, col in zip(axes, panels):
        names = [v for v in VARIANTS if table[v].get(col)]
        means = [table[v][col]["mean"] for v in names]
        sds = [table[v][col]["sd"] or 0 for v in names]
        ax.bar(range(len(names)), means, yerr=sds, capsize=4, color="#4c72b0")
        ax.set_xticks(range(len(names)), names)
        ax.set_title(col)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", type=Path, required=True)
    p.add_argument("--data", type=Path, default=None, help="fine-tuning corpus (default: "
                   "read from the experiment's runs)")
    p.add_argument("--samples", type=int, default=1000)
    args = p.parse_args(argv)
    res = args.exp / "results"
    runs = read_runs(res)
    probes = {v: json.loads((res / f"probe_{v}.json").read_text())
              for v in VARIANTS if (res / f"probe_{v}.json").is_file()}
    table = cells(runs, probes)
    tests = []
    refs = None
    if args.data is not None and (args.data / "test_st.tsv").is_file():
        from mslam_plugin.scoring import read_tsv
        refs = [r["tgt_text"] for r in read_tsv(args.data / "test_st.tsv")]
    for better, base, task in PAIRS if refs else ():
        t = bootstrap(args.exp, refs, runs, better, base, task, args.samples)
        if t:
            tests.append(t)
    summary = {"table": table, "bootstrap": tests, "findings": findings(table, tests),
               "variants": VARIANTS}
    (res / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (res / "table.md").write_text(markdown(table))
    plot(table, res / "ablation.png")
    print(markdown(table))
    for f in summary["findings"]:
        print(f"- {f['finding']}: {f['status']} ({f['numbers']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
