"""Table of the tiny comparisons (examples/tiny/compare.sh): every fine-tuned model of
EXP with its test scores and last dev loss.

usage: python examples/tiny/compare.py EXP_DIR
"""

import json
import re
import sys
from pathlib import Path

VALID = re.compile(r"valid on '[^']+' subset \| loss ([0-9.]+)")
ST = {"st": "ST, encoder from mSLAM", "st_random": "ST, random initialisation",
      "st_text": "ST, speech + text fine-tuning from mSLAM"}
ASR = {"asr": "ASR, encoder from mSLAM", "asr_random": "ASR, random initialisation"}


def last_dev_loss(log: Path) -> str:
    losses = VALID.findall(log.read_text(errors="replace")) if log.is_file() else []
    return losses[-1] if losses else "-"


def score(path: Path, *keys) -> list[str]:
    s = json.loads(path.read_text())["all"] if path.is_file() else {}
    return [f"{s[k]:.2f}" if k in s else "-" for k in keys]


def table(exp: Path, models: dict, columns: str, scores: list[tuple[str, tuple]]) -> None:
    print(f"| model | dev loss | {columns} |")
    print("|---|---|" + "---|" * (columns.count("|") + 1))
    for name, what in models.items():
        d = exp / name
        cells = [c for path, keys in scores for c in score(d / "decode" / path, *keys)]
        print(f"| {what} | {last_dev_loss(d / 'train.log')} | " + " | ".join(cells) + " |")


def main(exp: Path) -> None:
    table(exp, ST, "BLEU | chrF | zero-shot text BLEU | zero-shot chrF",
          [("scores-test_st-speech.json", ("bleu", "chrf")),
           ("scores-test_st-text.json", ("bleu", "chrf"))])
    print()
    table(exp, ASR, "WER greedy | CER greedy | WER beam 4 | CER beam 4",
          [("scores-paired_test-greedy.json", ("wer", "cer")),
           ("scores-paired_test-beam4.json", ("wer", "cer"))])


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "exp/tiny"))
