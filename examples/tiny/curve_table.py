"""Table and plot of a learning curve (examples/tiny/learning_curve.sh): per evaluated
epoch and variant (the real model, the blind control, ...), test BLEU and chrF for ST
(from speech, and from text), greedy WER and CER for ASR.

usage: python examples/tiny/curve_table.py EXP VARIANT [VARIANT ...]
Writes EXP/curve.json and EXP/curve.png (test metrics per epoch), EXP/dev.png (every
validation of EXP/<variant>/train.log: dev loss, accuracy or CTC loss, and the encoder's
input sensitivity enc_variation against updates), prints a markdown table.
"""

import json
import re
import sys
from pathlib import Path


# score file -> {metric in its "all" entry: name in the table}
SCORES = {"scores-test_st-speech.json": {"bleu": "bleu", "chrf": "chrf"},
          "scores-test_st-text.json": {"bleu": "text_bleu", "chrf": "text_chrf"},
          "scores-test_st-ctc.json": {"cer": "source_ctc_cer"},  # python -m mslam_plugin.decode_ctc
          "scores-paired_test-greedy.json": {"wer": "wer", "cer": "cer"}}


def collect(exp: Path, variants: list[str]) -> dict:
    """{variant: {epoch: {metric: value}}} from the decodes found."""
    curve = {}
    for variant in variants:
        points = {}
        for name, metrics in SCORES.items():
            for scores in sorted((exp / variant / "decode").glob(f"epoch*/{name}")):
                epoch = int(re.search(r"epoch(\d+)", str(scores)).group(1))
                overall = json.loads(scores.read_text())["all"]
                points.setdefault(epoch, {}).update({n: overall[m] for m, n in metrics.items()})
        curve[variant] = dict(sorted(points.items()))
    return curve


DEV_KEYS = ("loss", "nll_loss", "accuracy", "ctc_loss", "loss_ctc", "enc_variation",
            "enc_pooled_cos", "acc_w2v_contrastive", "acc_w2v_mlm", "acc_text_mlm",
            "acc_tlm_speech", "code_usage", "code_perplexity")
# one panel per group: its first key the logs have (fine-tuning, then pre-training names)
PANELS = (("nll_loss", "loss"), ("accuracy", "acc_w2v_contrastive"), ("acc_w2v_mlm",),
          ("ctc_loss", "loss_ctc"), ("enc_variation",))


def dev_curve(log: Path) -> list[dict]:
    """Every validation line of a fairseq-train log (--log-format simple): its update and
    the DEV_KEYS it has."""
    sys.path.insert(0, str(Path(__file__).parent))
    from loss_table import fields

    points = []
    for line in log.read_text(encoding="utf-8").splitlines() if log.is_file() else []:
        if "valid on" in line:
            f = fields(line)
            points.append({"update": int(f["num_updates"]),
                           **{k: float(f[k]) for k in DEV_KEYS if k in f}})
    return points


def _plot_panels(path: Path, panels: list, xlabel: str, marker=None) -> None:
    """One panel per (ylabel, {variant: (xs, ys)}), side by side, into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 3.4), squeeze=False)
    for ax, (ylabel, lines) in zip(axes[0], panels):
        for variant, (xs, ys) in lines.items():
            ax.plot(xs, ys, marker=marker, label=variant)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_dev(dev: dict, path: Path) -> None:
    logged = {k for points in dev.values() for p in points for k in p}
    keys = [next(k for k in group if k in logged) for group in PANELS
            if any(k in logged for k in group)]
    panels = [(f"dev {key}", {v: ([p["update"] for p in points if key in p],
                                  [p[key] for p in points if key in p])
                              for v, points in dev.items()}) for key in keys]
    _plot_panels(path, panels, "update")


def metric_names(curve: dict) -> tuple[str, ...]:
    found = {m for points in curve.values() for p in points.values() for m in p}
    names = [n for metrics in SCORES.values() for n in metrics.values() if n in found]
    return tuple(names) or ("bleu", "chrf")


def plot(curve: dict, metrics: tuple[str, ...], path: Path) -> None:
    panels = [(f"test {m}", {v: ([e for e, p in points.items() if m in p],
                                 [p[m] for p in points.values() if m in p])
                             for v, points in curve.items()}) for m in metrics]
    _plot_panels(path, panels, "fine-tuning epoch", marker="o")


def main() -> None:
    exp, variants = Path(sys.argv[1]), sys.argv[2:]
    curve = collect(exp, variants)
    dev = {v: dev_curve(exp / v / "train.log") for v in variants}
    (exp / "curve.json").write_text(json.dumps({"test": curve, "dev": dev}, indent=1) + "\n")
    epochs = sorted({e for points in curve.values() for e in points})
    metrics = metric_names(curve)
    print("| epoch | " + " | ".join(f"{v} {m}" for v in variants for m in metrics) + " |")
    print("|---" * (1 + len(metrics) * len(variants)) + "|")
    for e in epochs:
        cells = []
        for v in variants:
            p = curve[v].get(e)
            cells += [f"{p[m]:.2f}" if p and m in p else "-" for m in metrics]
        print(f"| {e} | " + " | ".join(cells) + " |")
    try:
        plot(curve, metrics, exp / "curve.png")
        plot_dev(dev, exp / "dev.png")
    except ImportError:
        print("matplotlib missing: no plot")


if __name__ == "__main__":
    main()
