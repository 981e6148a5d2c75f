"""The last stage of the tiny recipe: one results table (per language and overall: ST BLEU
and chrF from speech, zero-shot text-translation BLEU and chrF, ASR WER and CER with
greedy and beam search, decoding real-time factors) and PNG plots of the training curves
of every stage (train loss per logged update, dev loss at each validation).

usage: python examples/tiny/results.py EXP_DIR [--out EXP_DIR/results.md]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

INNER = re.compile(r"train_inner \|.*?\bloss=([0-9.]+).*?num_updates=(\d+)")
VALID = re.compile(r"valid on '[^']+' subset \| loss ([0-9.]+).*?\| num_updates (\d+)")


def curves(log: Path) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    train, dev = [], []
    if log.is_file():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if m := INNER.search(line):
                train.append((int(m.group(2)), float(m.group(1))))
            elif m := VALID.search(line):
                dev.append((int(m.group(2)), float(m.group(1))))
    return train, dev


def plot(exp: Path, stages: dict[str, str]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, title in stages.items():
        train, dev = curves(exp / name / "train.log")
        if not train:
            continue
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(*zip(*train), marker=".", label="train")
        if dev:
            ax.plot(*zip(*dev), marker="o", linestyle="--", label="dev")
        ax.set_xlabel("update")
        ax.set_ylabel("loss")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = exp / f"curve_{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def table(exp: Path) -> str:
    st = load(exp / "st/decode/scores-test_st-speech.json")
    zs = load(exp / "st/decode/scores-test_st-text.json")
    greedy = load(exp / "asr/decode/scores-paired_test-greedy.json")
    beam = load(exp / "asr/decode/scores-paired_test-beam4.json")
    langs = [k for k in (st or beam or greedy) if k not in ("all", "rtf")]
    head = ("| lang | ST BLEU | ST chrF | zero-shot text BLEU | zero-shot chrF | "
            "WER greedy | CER greedy | WER beam 4 | CER beam 4 |")
    lines = [head, "|" + "---|" * 9]

    def cell(scores, lang, key):
        return f"{scores[lang][key]:.2f}" if lang in scores else "-"

    for lang in langs + ["all"]:
        lines.append(f"| {lang} | " + " | ".join([
            cell(st, lang, "bleu"), cell(st, lang, "chrf"), cell(zs, lang, "bleu"),
            cell(zs, lang, "chrf"), cell(greedy, lang, "wer"), cell(greedy, lang, "cer"),
            cell(beam, lang, "wer"), cell(beam, lang, "cer")]) + " |")
    for name, scores in (("greedy", greedy), ("beam 4", beam)):
        if "rtf" in scores:
            r = scores["rtf"]
            lines.append(f"\nASR decoding real-time factor, {name}: {r['rtf']:.4f} "
                         f"({r['decode_seconds']:.1f} s for {r['audio_seconds']:.0f} s of audio, "
                         f"{r['device']}, {r['threads']} threads)")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("exp", type=Path)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    text = table(args.exp)
    pngs = plot(args.exp, {"pretrain": "mSLAM pre-training (mslam_tiny)",
                           "st": "speech translation fine-tuning (mslam_st_tiny)",
                           "asr": "transducer ASR fine-tuning (mslam_transducer_tiny)"})
    out = args.out or args.exp / "results.md"
    out.write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\ntable: {out}; training curves: {', '.join(str(p) for p in pngs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
