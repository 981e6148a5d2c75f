"""One ablation run's result file (EXP/results/<task>_<variant>_s<seed>.json), written
whole so that the report needs nothing else of the run: a speech-translation run's
scores from speech and from text, the figures of its last validation and its test
translations from speech, in test-set order (the paired bootstrap and the output counts
read them).

usage: python examples/ablation/results.py RUN_DIR OUT_JSON
(examples/ablation/run.sh calls it after decoding RUN_DIR/checkpoint_last.pt into
RUN_DIR/decode)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tiny"))
from loss_table import fields  # noqa: E402  (the tiny recipe's log-line parser)

MODALITIES = ("speech", "text")


def last_dev(run: Path) -> dict[str, float]:
    """The figures of a run's last validation in RUN/train.log (fairseq-train
    --log-format simple), e.g. {"nll_loss": 5.62, "accuracy": 24.7, ...}; {} without one."""
    log = run / "train.log"
    valid = [line for line in log.read_text(encoding="utf-8").splitlines()
             if "valid on" in line] if log.is_file() else []
    if not valid:
        return {}
    return {k: float(v) for k, v in fields(valid[-1]).items()}


def decoded(run: Path, modality: str = "speech") -> list[str] | None:
    """A run's test translations from ``modality`` (RUN/decode/generate-test_st-
    <modality>.txt) in test-set order; None where the decode is missing or incomplete."""
    from mslam_plugin.scoring.metrics import read_generate_output

    gen = run / "decode" / f"generate-test_st-{modality}.txt"
    scores = run / "decode" / f"scores-test_st-{modality}.json"
    if not gen.is_file() or not scores.is_file():
        return None
    n = json.loads(scores.read_text())["all"]["n"]
    hyps = read_generate_output(gen)
    return [hyps[i] for i in range(n)] if sorted(hyps) == list(range(n)) else None


def st_result(run: Path) -> dict:
    """{"speech": scores, "text": scores, "dev": last validation, "translations":
    {"speech": [...]}} of a decoded speech-translation run (modalities not decoded are
    left out)."""
    decode = run / "decode"
    result = {m: json.loads((decode / f"scores-test_st-{m}.json").read_text())
              for m in MODALITIES if (decode / f"scores-test_st-{m}.json").is_file()}
    result["dev"] = last_dev(run)
    hyps = decoded(run, "speech")
    if hyps is not None:
        result["translations"] = {"speech": hyps}
    return result


def translations(result: dict, n: int) -> list[str] | None:
    """The ``n`` test translations from speech a result holds; None where it has none (a
    result file of an earlier version of the recipe) or not ``n`` of them."""
    hyps = result.get("translations", {}).get("speech")
    return hyps if hyps is not None and len(hyps) == n else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="the run's directory (train.log, decode/)")
    p.add_argument("out", type=Path, help="the result file to write")
    args = p.parse_args(argv)
    run, out = args.run, args.out
    result = st_result(run)
    if not any(m in result for m in MODALITIES):
        print(f"error: {run / 'decode'} holds no scores-test_st-*.json", file=sys.stderr)
        return 1
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
