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


def main(exp: Path) -> None:
    print("| model | dev loss | BLEU | chrF | zero-shot text BLEU | zero-shot chrF |")
    print("|---|---|---|---|---|---|")
    for name, what in ST.items():
        d = exp / name
        print(f"| {what} | {last_dev_loss(d / 'train.log')} | "
              + " | ".join(score(d / "decode/scores-test_st-speech.json", "bleu", "chrf")
                           + score(d / "decode/scores-test_st-text.json", "bleu", "chrf")) + " |")
    print("\n| model | dev loss | WER greedy | CER greedy | WER beam 4 | CER beam 4 |")
    print("|---|---|---|---|---|---|")
    for name, what in ASR.items():
        d = exp / name
        print(f"| {what} | {last_dev_loss(d / 'train.log')} | "
              + " | ".join(score(d / "decode/scores-paired_test-greedy.json", "wer", "cer")
                           + score(d / "decode/scores-paired_test-beam4.json", "wer", "cer")) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "exp/tiny"))
