"""``mslam-score`` (``python -m mslam_plugin.scoring``): BLEU and chrF per source language
and overall of fairseq-generate output.

    mslam-score st --generate-output gen.txt --manifest data/test_st.tsv [--json scores.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..scoring.metrics import format_table, score_generate_output
from . import run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("st", help="BLEU and chrF of fairseq-generate output")
    st.add_argument("--generate-output", required=True)
    st.add_argument("--manifest", required=True, help="the generated split's TSV")
    st.add_argument("--json", help="write the scores here")
    args = parser.parse_args(argv)

    def body():
        scores = score_generate_output(args.generate_output, args.manifest)
        print(format_table(scores, ("bleu", "chrf")))
        if args.json:
            Path(args.json).write_text(json.dumps(scores, indent=1) + "\n")

    return run(body)
