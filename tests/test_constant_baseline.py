"""examples/tiny/constant_baseline.py: every training target repeated for the whole test
split, scored with chrF; the best is the sentence closest to the test references."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADER = "id\taudio\tn_frames\ttgt_text\tspeaker\tsrc_text\tsrc_lang\ttgt_lang\n"


def _manifest(path: Path, targets: list[str]) -> None:
    rows = [f"u{i}\tfbank80.zip:{i}:10\t100\t{t}\tspk\tquelle\tde\ten\n"
            for i, t in enumerate(targets)]
    path.write_text(HEADER + "".join(rows), encoding="utf-8")


def test_scores_every_training_target_and_ranks_the_closest_first(tmp_path):
    near = "Open the settings and click the network panel."
    _manifest(tmp_path / "train_st.tsv", ["Yes.", near, near, "A cat sleeps on the sofa today."])
    _manifest(tmp_path / "test_st.tsv", ["Open the settings and click the sound panel.",
                                         "Open the settings, then click the network panel."])
    out = tmp_path / "baseline.json"
    proc = subprocess.run([sys.executable, str(REPO / "examples/tiny/constant_baseline.py"),
                           str(tmp_path), "--out", str(out), "--top", "2"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["candidates"] == 3 and result["test_utterances"] == 2  # duplicates once
    assert result["best"][0]["sentence"] == near
    assert result["chrf_max"] == result["best"][0]["chrf"] > 60 > result["chrf_min"]
    assert result["best"][0]["chrf"] > result["best"][1]["chrf"]
