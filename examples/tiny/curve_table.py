"""Table and plot of a learning curve (examples/tiny/learning_curve.sh): per evaluated
epoch and variant (the real model, the blind control, ...), test BLEU and chrF for ST,
greedy WER and CER for ASR.

usage: python examples/tiny/curve_table.py EXP VARIANT [VARIANT ...]
Writes EXP/curve.json and EXP/curve.png, prints a markdown table.
"""

import json
import re
import sys
from pathlib import Path


SCORES = {"scores-test_st-speech.json": ("bleu", "chrf"),
          "scores-paired_test-greedy.json": ("wer", "cer")}


def collect(exp: Path, variants: list[str]) -> dict:
    """{variant: {epoch: {metric: value}}} from the decodes found."""
    curve = {}
    for variant in variants:
        points = {}
        for name, metrics in SCORES.items():
            for scores in sorted((exp / variant / "decode").glob(f"epoch*/{name}")):
                epoch = int(re.search(r"epoch(\d+)", str(scores)).group(1))
                overall = json.loads(scores.read_text())["all"]
                points[epoch] = {m: overall[m] for m in metrics}
        curve[variant] = dict(sorted(points.items()))
    return curve


def metric_names(curve: dict) -> tuple[str, ...]:
    for points in curve.values():
        for p in points.values():
            return tuple(p)
    return ("bleu", "chrf")


def plot(curve: dict, metrics: tuple[str, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric in zip(axes, metrics[::-1]):
        for variant, points in curve.items():
            ax.plot(list(points), [p[metric] for p in points.values()], marker="o", label=variant)
        ax.set_xlabel("fine-tuning epoch")
        ax.set_ylabel(f"test {metric}")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    exp, variants = Path(sys.argv[1]), sys.argv[2:]
    curve = collect(exp, variants)
    (exp / "curve.json").write_text(json.dumps(curve, indent=1) + "\n")
    epochs = sorted({e for points in curve.values() for e in points})
    metrics = metric_names(curve)
    print("| epoch | " + " | ".join(f"{v} {m}" for v in variants for m in metrics) + " |")
    print("|---" * (1 + len(metrics) * len(variants)) + "|")
    for e in epochs:
        cells = []
        for v in variants:
            p = curve[v].get(e)
            cells += [f"{p[m]:.2f}" for m in metrics] if p else ["-"] * len(metrics)
        print(f"| {e} | " + " | ".join(cells) + " |")
    try:
        plot(curve, metrics, exp / "curve.png")
    except ImportError:
        print("matplotlib missing: no plot")


if __name__ == "__main__":
    main()
