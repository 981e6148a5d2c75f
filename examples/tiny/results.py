"""The last stage of the tiny recipe: the results table (per language and overall: ASR
greedy WER and CER, ST BLEU and chrF from speech and zero-shot from text, each beside its
blind control, and the source CTC head's CER), the demo's targets met or not, each
stage's dev figures at its first and last validation, and PNG plots of every dev
validation (examples/tiny/curve_table.py's panels).

usage: python examples/tiny/results.py EXP_DIR [--out EXP_DIR/results.md]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from curve_table import dev_curve, plot_dev  # noqa: E402

ASR_CER_TARGET = 35.0
CHRF_MARGIN_TARGET = 10.0
# stage: (train logs of its variants, dev figures shown first vs last)
STAGES = {
    "pretrain": ({"pretrain": "pretrain"},
                 ("loss", "acc_w2v_contrastive", "acc_w2v_mlm", "acc_text_mlm", "loss_ctc",
                  "code_usage", "enc_variation")),
    "asr": ({"asr": "asr"}, ("loss", "enc_variation", "enc_pooled_cos")),
    "st": ({"real": "st", "blind": "st_blind"},
           ("nll_loss", "accuracy", "ctc_loss", "enc_variation", "enc_pooled_cos")),
}


def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def scores(exp: Path) -> dict[str, dict]:
    return {
        "asr": load(exp / "asr/decode/scores-paired_test-greedy.json"),
        "st": load(exp / "st/decode/scores-test_st-speech.json"),
        "st_blind": load(exp / "st_blind/decode/scores-test_st-speech.json"),
        "text": load(exp / "st/decode/scores-test_st-text.json"),
        "text_blind": load(exp / "st_blind/decode/scores-test_st-text.json"),
        "ctc": load(exp / "st/decode/scores-test_st-ctc.json"),
    }


COLUMNS = (("ASR WER", "asr", "wer"), ("ASR CER", "asr", "cer"),
           ("ST BLEU", "st", "bleu"), ("blind BLEU", "st_blind", "bleu"),
           ("ST chrF", "st", "chrf"), ("blind chrF", "st_blind", "chrf"),
           ("zero-shot text chrF", "text", "chrf"), ("blind text chrF", "text_blind", "chrf"),
           ("source CTC CER", "ctc", "cer"))


def table(s: dict[str, dict]) -> list[str]:
    langs = sorted({k for v in s.values() for k in v if k not in ("all", "rtf")})
    lines = ["| lang | " + " | ".join(c[0] for c in COLUMNS) + " |",
             "|" + "---|" * (len(COLUMNS) + 1)]
    for lang in langs + ["all"]:
        cells = [f"{s[src][lang][key]:.2f}" if lang in s[src] else "-"
                 for _, src, key in COLUMNS]
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")
    return lines


def pretraining_figures(log: Path, dev: list[dict]) -> list[str]:
    """Contrastive and masked-code accuracy at the last validation, with what chance
    gives: 1 in (1 + distinct negatives) for the contrastive task (the negatives are
    drawn with replacement from the utterance's other masked frames, so with N draws
    chance is 1 / (1 + N) or more), and the codebook's spread for the masked codes.
    ``dev``: the validations of ``log`` (curve_table.dev_curve)."""
    if not dev:
        return []
    last = dev[-1]
    negatives = re.findall(r"'num_negatives': (\d+)", log.read_text(encoding="utf-8"))
    parts = []
    if "acc_w2v_contrastive" in last:
        part = f"contrastive accuracy {100 * last['acc_w2v_contrastive']:.1f}%"
        if negatives:
            n = int(negatives[-1])
            part += (f" (chance 1 / (1 + distinct negatives): {100 / (1 + n):.1f}% with {n} "
                     "distinct, more when the draws repeat frames)")
        parts.append(part)
    if "acc_w2v_mlm" in last:
        part = f"masked-code accuracy {100 * last['acc_w2v_mlm']:.1f}%"
        if "code_usage" in last and "code_perplexity" in last:
            part += (f" (codes in use: {100 * last['code_usage']:.0f}% of the codebook, "
                     f"code perplexity {last['code_perplexity']:.0f})")
        parts.append(part)
    if not parts:
        return []
    return [f"- pre-training, dev at update {last['update']}: " + ", ".join(parts)]


def targets(s: dict[str, dict]) -> list[str]:
    def overall(src, key):
        return s[src].get("all", {}).get(key)

    out = []
    cer = overall("asr", "cer")
    if cer is not None:
        out.append(f"- ASR greedy CER {cer:.1f}% on unseen sentences (target at most "
                   f"{ASR_CER_TARGET:.0f}%): {'met' if cer <= ASR_CER_TARGET else 'NOT met'}")
    for name, real, blind in (("ST from speech", "st", "st_blind"),
                              ("zero-shot text translation", "text", "text_blind")):
        a, b = overall(real, "chrf"), overall(blind, "chrf")
        if a is not None and b is not None:
            out.append(f"- {name}: chrF {a:.1f} against {b:.1f} for the blind control, "
                       f"{a - b:+.1f} (target +{CHRF_MARGIN_TARGET:.0f}): "
                       f"{'met' if a - b >= CHRF_MARGIN_TARGET else 'NOT met'}")
    if out and any("NOT met" in line for line in out):
        out.append("  (docs/learning_curves.md shows how each figure moves with the budget)")
    return out


def first_last(exp: Path) -> tuple[list[str], dict[str, dict]]:
    lines, curves = [], {}
    for stage, (variants, keys) in STAGES.items():
        dev = {name: dev_curve(exp / d / "train.log") for name, d in variants.items()}
        dev = {name: points for name, points in dev.items() if points}
        if not dev:
            continue
        curves[stage] = dev
        lines += ["", f"{stage}: dev at the first and last validation", "",
                  "| run | update | " + " | ".join(keys) + " |",
                  "|" + "---|" * (len(keys) + 2)]
        for name, points in dev.items():
            for p in (points[0], points[-1]) if len(points) > 1 else points:
                cells = [f"{p[k]:.4g}" if k in p else "-" for k in keys]
                lines.append(f"| {name} | {p['update']} | " + " | ".join(cells) + " |")
    return lines, curves


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("exp", type=Path)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    s = scores(args.exp)
    lines = ["Test split: sentences never seen in training. ASR greedy; ST beam 5; the blind "
             "control's decoder sees zeros in place of the encoder output.", ""]
    dev_lines, curves = first_last(args.exp)
    lines += table(s) + [""]
    lines += pretraining_figures(args.exp / "pretrain/train.log",
                                 curves.get("pretrain", {}).get("pretrain", []))
    lines += targets(s) + dev_lines
    pngs = []
    for stage, dev in curves.items():
        path = args.exp / f"dev_{stage}.png"
        try:
            plot_dev(dev, path)
            pngs.append(str(path))
        except ImportError:
            break
    text = "\n".join(lines)
    out = args.out or args.exp / "results.md"
    out.write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\ntable: {out}; dev curves: {', '.join(pngs) or 'none (no matplotlib)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
