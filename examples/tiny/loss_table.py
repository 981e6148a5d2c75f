#!/usr/bin/env python3
"""Print each pre-training loss and accuracy at the first and last logged update (and
the last validation) of a fairseq-train log written with --log-format simple.

usage: python examples/tiny/loss_table.py exp/tiny/pretrain/train.log
"""
import re
import sys

KEYS = ("loss", "loss_w2v_contrastive", "loss_w2v_mlm", "loss_text_mlm", "loss_tlm_text",
        "loss_tlm_speech", "loss_ctc", "acc_w2v_contrastive", "acc_w2v_mlm", "acc_text_mlm",
        "acc_tlm_text", "acc_tlm_speech", "code_perplexity", "code_usage", "ups")


def fields(line: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)[= ]([-0-9.]+)(?:,| \||$)", line))


def main(path: str) -> None:
    lines = open(path, encoding="utf-8").read().splitlines()
    train = [fields(line) for line in lines if "| train_inner |" in line]
    valid = [fields(line) for line in lines if "valid on" in line]
    if not train:
        sys.exit(f"{path}: no train_inner lines (was --log-format simple used?)")
    first, last = train[0], train[-1]
    print(f"{'metric':24s} {'update ' + first.get('num_updates', '?'):>12s} "
          f"{'update ' + last.get('num_updates', '?'):>12s} {'dev (last)':>12s}")
    for key in KEYS:
        dev = valid[-1].get(key, "-") if valid else "-"
        print(f"{key:24s} {first.get(key, '-'):>12s} {last.get(key, '-'):>12s} {dev:>12s}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "exp/tiny/pretrain/train.log")
