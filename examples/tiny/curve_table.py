"""Table and plot of an ST learning curve (examples/tiny/st_curve.sh): test BLEU and chrF
per evaluated epoch for each variant (the real model, the blind control, ...).

usage: python examples/tiny/curve_table.py EXP VARIANT [VARIANT ...]
Writes EXP/curve.json and EXP/curve.png, prints a markdown table.
"""

import json
import re
import sys
from pathlib import Path


def collect(exp: Path, variants: list[str]) -> dict:
    """{variant: {epoch: {"bleu": ..., "chrf": ...}}} from the decodes found."""
    curve = {}
    for variant in variants:
        points = {}
        for scores in sorted((exp / variant / "decode").glob("epoch*/scores-test_st-speech.json")):
            epoch = int(re.search(r"epoch(\d+)", str(scores)).group(1))
            overall = json.loads(scores.read_text())["all"]
            points[epoch] = {"bleu": overall["bleu"], "chrf": overall["chrf"]}
        curve[variant] = dict(sorted(points.items()))
    return curve


def plot(curve: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric in zip(axes, ("chrf", "bleu")):
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
    print("| epoch | " + " | ".join(f"{v} BLEU | {v} chrF" for v in variants) + " |")
    print("|---" * (1 + 2 * len(variants)) + "|")
    for e in epochs:
        cells = []
        for v in variants:
            p = curve[v].get(e)
            cells += [f"{p['bleu']:.2f}", f"{p['chrf']:.2f}"] if p else ["-", "-"]
        print(f"| {e} | " + " | ".join(cells) + " |")
    try:
        plot(curve, exp / "curve.png")
    except ImportError:
        print("matplotlib missing: no plot")


if __name__ == "__main__":
    main()
