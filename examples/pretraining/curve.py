"""The probe curve of pre-training runs: each probed checkpoint's test CER (best depth by
dev CER) against its updates and the run's training time to that update, beside the
controls (filterbanks, random weights), as a markdown table and a JSON file.

The time is fairseq's ``train_wall`` at that update in the run's ``train.log`` (seconds of
training, validation excluded; the runs here use one thread each).

usage: python examples/pretraining/curve.py --probes exp/ssl/probes --runs exp/ssl/ours_b,exp/anchor/wav2vec2
           [--out docs/pretraining_results/curve.json]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

_WALL = re.compile(r"num_updates=(\d+).*?train_wall=(\d+)")


def train_wall(log: Path) -> dict[int, int]:
    """num_updates -> cumulative train_wall seconds, from fairseq's train_inner lines."""
    out = {}
    if log.is_file():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            m = _WALL.search(line)
            if m and "train_inner" in line:
                out[int(m.group(1))] = int(m.group(2))
    return out


def wall_at(walls: dict[int, int], n: int):
    """train_wall at update n: the last logged line at or before it (fairseq logs every
    25 updates and restarts train_wall from the checkpoint's own count on resume)."""
    before = [u for u in walls if u <= n]
    return walls[max(before)] if before else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--probes", type=Path, required=True)
    p.add_argument("--runs", required=True, help="comma-separated run directories")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    rows = []
    for name in ("fbank",):
        f = args.probes / f"{name}.json"
        if f.is_file():
            r = json.loads(f.read_text())
            rows.append({"run": "filterbanks", "updates": 0, "train_wall_s": 0,
                         "best_layer": r["best_layer"], "test_cer": r["test_cer"]})
    for run in [Path(x) for x in args.runs.split(",") if x]:
        walls = train_wall(run / "train.log")
        control = args.probes / f"random_{run.name}.json"
        if control.is_file():
            r = json.loads(control.read_text())
            rows.append({"run": f"{run.name} (random weights)", "updates": 0, "train_wall_s": 0,
                         "best_layer": r["best_layer"], "test_cer": r["test_cer"]})
        probes = sorted(args.probes.glob(f"{run.name}_*.json"),
                        key=lambda f: int(f.stem.rsplit("_", 1)[1]))
        for f in probes:
            n = int(f.stem.rsplit("_", 1)[1])
            r = json.loads(f.read_text())
            rows.append({"run": run.name, "updates": n, "train_wall_s": wall_at(walls, n),
                         "best_layer": r["best_layer"], "test_cer": r["test_cer"],
                         "dev_cer_by_depth": r["dev_cer"]})
    print("| run | updates | training time (s) | best depth | test CER % | dev CER by depth |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        depths = " ".join(f"{x:.1f}" for x in r.get("dev_cer_by_depth", []))
        print(f"| {r['run']} | {r['updates']} | {r['train_wall_s']} | {r['best_layer']} | "
              f"{r['test_cer']:.2f} | {depths} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
