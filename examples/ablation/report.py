"""Collect the ablation's result files into one summary (the last stage of
examples/ablation/run.sh): mean and standard deviation over seeds of every cell, paired
bootstrap tests on BLEU between pre-training variants, the paper's findings marked from
the numbers, a markdown table and a plot.

usage: python examples/ablation/report.py --exp EXP [--data FT] [--pretrain-exp PEXP]
                                          [--samples 1000]
Writes EXP/results/summary.json, EXP/results/table.md and EXP/results/ablation.png.
With --pretrain-exp (run.sh's, where the pre-trained variants live), that experiment's
results supply the probes and every task EXP has no run of (the ASR runs, when EXP
holds only a longer ST schedule).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

import numpy as np
from bootstrap import significance
from results import decoded, last_dev, translations

VARIANTS = {"a": "w2v-BERT (speech only)", "b": "mSLAM-TLM", "c": "mSLAM-CTC",
            "d": "no pre-training", "blind": "blind decoder (control)"}
# (column, result file prefix, path into the result JSON)
CELLS = (("ASR CER", "asr", ("all", "cer")), ("ASR WER", "asr", ("all", "wer")),
         ("ST BLEU", "st", ("speech", "all", "bleu")), ("ST chrF", "st", ("speech", "all", "chrf")),
         ("ST+text BLEU", "st_text", ("speech", "all", "bleu")),
         ("ST+text chrF", "st_text", ("speech", "all", "chrf")),
         # the speech + text model translating the test split's source text (seen in
         # training as MT: not zero-shot)
         ("ST+text from text chrF", "st_text", ("text", "all", "chrf")),
         ("zero-shot text BLEU", "st", ("text", "all", "bleu")),
         ("zero-shot text chrF", "st", ("text", "all", "chrf")),
         # teacher-forced, from the run's last validation: separates decoders that BLEU,
         # at the blind floor, cannot
         ("ST dev nll", "st", ("dev", "nll_loss")),
         ("ST+text dev nll", "st_text", ("dev", "nll_loss")))
PROBES = (("retrieval s->t R@1", ("retrieval_centred", "within_language", "speech_to_text", "r@1")),
          ("retrieval s->t R@5", ("retrieval_centred", "within_language", "speech_to_text", "r@5")),
          ("retrieval t->s R@1", ("retrieval_centred", "within_language", "text_to_speech", "r@1")),
          ("LID accuracy", ("lid_accuracy",)))
_RUN = re.compile(r"^(asr|st|st_text)_(a|b|c|d|blind)_s(\d+)\.json$")


def dig(d, path):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def read_runs(exps: list[Path]) -> tuple[dict, dict]:
    """The result files of the experiments ``exps`` (EXP/results/<task>_<variant>_s<seed>
    .json): (task, variant) -> {seed: result dict}, and (task, variant) -> the experiment
    the runs come from. A task is taken whole from the first experiment that has a run of
    it, so schedules of one task are never mixed."""
    runs: dict = {}
    home: dict = {}
    for exp in exps:
        found: dict = {}
        for path in sorted((exp / "results").glob("*.json")):
            m = _RUN.match(path.name)
            if m:
                found.setdefault((m.group(1), m.group(2)), {})[int(m.group(3))] = \
                    json.loads(path.read_text())
        taken = {task for task, _ in runs}
        for key, seeds in found.items():
            if key[0] not in taken:
                runs[key], home[key] = seeds, exp
    return runs, home


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


def output_stats(runs: dict, n: int, train_targets: set[str]) -> list[dict]:
    """Per ST run (speech input): how many distinct translations its ``n`` test outputs
    hold and how many are a training target word for word. A blind decoder gives one
    output; a model that retrieves training sentences by the speech gives many, nearly
    all verbatim; one that translates gives many, few verbatim."""
    out = []
    for (task, variant), seeds in sorted(runs.items()):
        if not task.startswith("st"):
            continue
        for seed in sorted(seeds):
            hyps = translations(seeds[seed], n)
            if hyps is not None:
                out.append({"task": task, "variant": variant, "seed": seed,
                            "distinct": len(set(hyps)),
                            "verbatim": sum(h in train_targets for h in hyps), "n": n})
    return out


def finding(delta: float | None, sd: float | None, expect_positive: bool,
            p: float | None = None) -> str:
    """reproduced / not reproduced / inconclusive for a difference ``delta`` (variant
    minus baseline) that the paper says is positive (``expect_positive``) or negative.
    Significant: larger than twice the seeds' spread ``sd`` and, where a paired bootstrap
    ``p`` is given (share of draws in which the variant does not beat the baseline), the
    bootstrap agrees on the sign: p < 0.05 for a positive ``delta``, p > 0.95 for a
    negative one."""
    if delta is None:
        return "not run"
    significant = sd is not None and abs(delta) > 2 * sd
    if p is not None:
        significant = significant and (p < 0.05 if delta > 0 else p > 0.95)
    if not significant:
        return "inconclusive"
    return "reproduced" if (delta > 0) == expect_positive else "not reproduced"


def findings(table: dict, tests: list[dict]) -> list[dict]:
    """The paper's claims (Bapna et al. 2022, arXiv:2202.01374: the ablation of
    pre-training objectives), each marked from the numbers. The paper: CoVoST 2 ST BLEU
    w2v-BERT 20.4, mSLAM-TLM 18.6, mSLAM-CTC 20.6; with speech + text fine-tuning 21.0 /
    19.8 / 22.4; VoxPopuli ASR WER 9.3 / 9.4 / 9.2."""
    def m(v, col):
        c = table.get(v, {}).get(col)
        return c["mean"] if c else None

    def sd(v, col):
        c = table.get(v, {}).get(col)
        return c["sd"] if c else None

    def diff(x, y, col):
        return None if m(x, col) is None or m(y, col) is None else round(m(x, col) - m(y, col), 2)

    def p_of(better, base, task):
        return next((t["p"] for t in tests
                     if (t["better"], t["base"], t["task"]) == (better, base, task)), None)

    def spread(*cells):
        """The seeds' spread of a difference between cells: the root sum of squares of
        the cells' standard deviations over seeds."""
        vals = [sd(v, c) for v, c in cells]
        return None if any(x is None for x in vals) else round(float(np.hypot.reduce(vals)), 2)

    out = []
    d = diff("b", "a", "ST BLEU")
    out.append({"finding": "mSLAM-TLM translates speech worse than speech-only w2v-BERT "
                           "(paper: -1.8 BLEU)",
                "numbers": f"ST BLEU TLM - w2v-BERT = {d} (p {p_of('b', 'a', 'st')})",
                "p": p_of("b", "a", "st"),
                "status": finding(d, spread(("a", "ST BLEU"), ("b", "ST BLEU")), False,
                                  p_of("b", "a", "st"))})
    d = diff("c", "b", "ST BLEU")
    out.append({"finding": "adding CTC recovers it (paper: +2.0 BLEU over mSLAM-TLM, "
                           "+0.2 over w2v-BERT)",
                "numbers": f"ST BLEU CTC - TLM = {d} (p {p_of('c', 'b', 'st')}); CTC - "
                           f"w2v-BERT = {diff('c', 'a', 'ST BLEU')} (p {p_of('c', 'a', 'st')}, "
                           "reported, not marked)",
                "p": p_of("c", "b", "st"),
                "status": finding(d, spread(("b", "ST BLEU"), ("c", "ST BLEU")), True,
                                  p_of("c", "b", "st"))})
    gain = {v: None if m(v, "ST+text BLEU") is None or m(v, "ST BLEU") is None
            else round(m(v, "ST+text BLEU") - m(v, "ST BLEU"), 2) for v in "abcd"}
    gain_sd = {v: spread((v, "ST BLEU"), (v, "ST+text BLEU")) for v in "abc"}
    lead = [None if gain["c"] is None or gain[v] is None else round(gain["c"] - gain[v], 2)
            for v in "ab"]
    statuses = [finding(x, None if gain_sd["c"] is None or gain_sd[v] is None
                        else float(np.hypot(gain_sd["c"], gain_sd[v])), True,
                        p_of("c", v, "text gain"))
                for x, v in zip(lead, "ab")]
    out.append({"finding": "speech + text fine-tuning helps mSLAM-CTC most (paper: +1.8, "
                           "against +0.6 for w2v-BERT and +1.2 for mSLAM-TLM)",
                "numbers": "BLEU gain from text: " + ", ".join(f"{v} {g}" for v, g in gain.items())
                           + f" (p of c's lead: over a {p_of('c', 'a', 'text gain')}, over b "
                           f"{p_of('c', 'b', 'text gain')})",
                "status": statuses[0] if statuses[0] == statuses[1] else
                "not run" if "not run" in statuses else "inconclusive"})
    # "about the same" is an equivalence claim: reproduced when a difference and twice its
    # spread lie within 5% of w2v-BERT's CER, not reproduced when they lie beyond it
    margin = None if m("a", "ASR CER") is None else round(0.05 * m("a", "ASR CER"), 2)
    same, told = [], []
    for v, name in (("c", "CTC"), ("b", "TLM")):
        d, s = diff(v, "a", "ASR CER"), spread(("a", "ASR CER"), (v, "ASR CER"))
        told.append(f"{name} - w2v-BERT = {d} (sd {s})")
        same.append("not run" if d is None else "inconclusive" if s is None else
                    "reproduced" if abs(d) + 2 * s <= margin else
                    "not reproduced" if abs(d) - 2 * s > margin else "inconclusive")
    status = ("not run" if "not run" in same else "not reproduced" if "not reproduced" in same
              else "reproduced" if same == ["reproduced"] * 2 else "inconclusive")
    lid = {v: m(v, "LID accuracy") for v in "abcd"}
    out.append({"finding": "ASR stays about the same for the three pre-trained models (CER "
                           "within 5% relative of w2v-BERT's); language ID gains",
                "numbers": "ASR CER " + ", ".join(told) + f", margin {margin}; no pre-training"
                           f" - w2v-BERT = {diff('d', 'a', 'ASR CER')}; LID probe accuracy "
                           + ", ".join(f"{v} {x}" for v, x in lid.items()),
                "status": status})
    zs = {v: m(v, "zero-shot text chrF") for v in ("a", "b", "c", "d", "blind")}
    d = None if zs["c"] is None or zs["blind"] is None else round(zs["c"] - zs["blind"], 2)
    out.append({"finding": "a model fine-tuned on speech only translates text zero-shot "
                           "(beyond a decoder that never reads its input)",
                "numbers": "zero-shot text chrF " + ", ".join(f"{v} {x}" for v, x in zs.items()),
                "status": finding(d, spread(("c", "zero-shot text chrF"),
                                            ("blind", "zero-shot text chrF")), True)})
    return out


def markdown(table: dict) -> str:
    cols = [c[0] for c in CELLS] + [p[0] for p in PROBES]
    lines = ["| variant | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]

    def fmt(c):
        if c is None:
            return ""
        return f"{c['mean']:.2f}" + ("" if c["sd"] is None else f" ± {c['sd']:.2f}")

    for v, name in VARIANTS.items():
        row = table[v]
        lines.append(f"| {name} | " + " | ".join(fmt(row[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def plot(table: dict, path: Path) -> None:
    import logging

    # importing fairseq (read_tsv) leaves the root logger at DEBUG: no font-search lines
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = ("ASR CER", "ST BLEU", "ST chrF", "ST+text BLEU", "zero-shot text chrF")
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.2))
    for ax, col in zip(axes, panels):
        names = [v for v in "abcd" if table[v].get(col)]
        for i, v in enumerate(names):  # mean ± sd over seeds, and each seed's figure
            c = table[v][col]
            ax.bar(i, c["mean"], yerr=c["sd"] or 0, capsize=4, color="#4c72b0")
            ax.plot([i] * len(c["values"]), c["values"], "k.", ms=4)
        floor = table["blind"].get(col.replace("ST+text", "ST"))  # no input, no text use
        if floor:  # the floor: a decoder that never reads its input
            ax.axhline(floor["mean"], color="#c44e52", ls="--", label="blind")
            ax.legend(loc="lower right", fontsize=8)
        if not names:
            ax.text(0.5, 0.5, "not run yet", ha="center", transform=ax.transAxes)
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
    p.add_argument("--pretrain-exp", type=Path, default=None, help="the experiment of the "
                   "pre-trained variants (run.sh --pretrain-exp): its probes, and the runs of "
                   "tasks EXP has none of (default: EXP alone)")
    p.add_argument("--samples", type=int, default=1000)
    args = p.parse_args(argv)
    res = args.exp / "results"
    runs, home = read_runs([args.exp] + ([args.pretrain_exp] if args.pretrain_exp else []))
    for (task, variant), seeds in runs.items():
        for seed, result in seeds.items():  # result files of an earlier recipe: from the run
            run = home[task, variant] / f"{task}_{variant}_s{seed}"
            result.setdefault("dev", last_dev(run))
            if task.startswith("st") and "translations" not in result:
                hyps = decoded(run)
                if hyps is not None:
                    result["translations"] = {"speech": hyps}
    probe_dir = (args.pretrain_exp or args.exp) / "results"
    probes = {v: json.loads((probe_dir / f"probe_{v}.json").read_text())
              for v in VARIANTS if (probe_dir / f"probe_{v}.json").is_file()}
    table = cells(runs, probes)
    tests = []
    refs = units = None
    outputs = []
    if args.data is not None and (args.data / "test_st.tsv").is_file():
        from mslam_plugin.data.manifest import read_tsv
        rows = read_tsv(args.data / "test_st.tsv")
        refs = [r["tgt_text"] for r in rows]
        units = [r["id"].rsplit("_", 1)[0] for r in rows]  # UNIT_LANG
        train = args.data / "train_st.tsv"
        targets = {r["tgt_text"] for r in read_tsv(train)} if train.is_file() else set()
        outputs = output_stats(runs, len(refs), targets)
    if refs:
        tests = significance(refs, units, runs, args.samples)
    summary = {"table": table, "bootstrap": tests, "findings": findings(table, tests),
               "outputs": outputs, "variants": VARIANTS}
    (res / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (res / "table.md").write_text(markdown(table))
    plot(table, res / "ablation.png")
    print(markdown(table))
    for f in summary["findings"]:
        print(f"- {f['finding']}: {f['status']} ({f['numbers']})")
    for o in outputs:
        print(f"- {o['task']} {o['variant']} seed {o['seed']}: {o['distinct']} distinct outputs, "
              f"{o['verbatim']} of {o['n']} a training target word for word")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
