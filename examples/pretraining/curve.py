"""The probe curve of pre-training runs: each probed checkpoint's test CER (best depth by
dev CER) against its updates and the run's training time to that update, beside the
controls (filterbanks, random weights), as a markdown table and a JSON file.

The time is the CPU seconds the training process had used when the checkpoint was
written (validation included; every run here uses one thread, OMP_NUM_THREADS=1).

usage: python examples/pretraining/curve.py --probes exp/ssl/probes --runs exp/ssl/ours_b,exp/anchor/wav2vec2
           [--out docs/pretraining_results/curve.json]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

def cpu_seconds(run: Path) -> dict[int, int]:
    """updates -> CPU seconds the run had used when that checkpoint appeared: from
    snapshots/cpu_seconds.tsv (examples/pretraining/snapshot.sh: updates, seconds) or
    cpu_clock.tsv (examples/anchor/cpu_clock.sh: time, seconds, newest checkpoint; its
    first line naming a checkpoint, 30 s resolution)."""
    out = {}
    snap = run / "snapshots" / "cpu_seconds.tsv"
    if snap.is_file():
        for line in snap.read_text().splitlines():
            n, sec = line.split("\t")[:2]
            out.setdefault(int(n), int(sec))
    clock = run / "cpu_clock.tsv"
    if clock.is_file():
        for line in clock.read_text().splitlines():
            _, sec, name = line.split("\t")
            m = re.match(r"checkpoint_\d+_(\d+)\.pt$", name)
            if m:
                out.setdefault(int(m.group(1)), int(sec))
    return out


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
            rows.append({"run": "filterbanks", "updates": 0, "cpu_s": 0,
                         "best_layer": r["best_layer"], "test_cer": r["test_cer"]})
    for run in [Path(x) for x in args.runs.split(",") if x]:
        cpu = cpu_seconds(run)
        control = args.probes / f"random_{run.name}.json"
        if control.is_file():
            r = json.loads(control.read_text())
            rows.append({"run": f"{run.name} (random weights)", "updates": 0, "cpu_s": 0,
                         "best_layer": r["best_layer"], "test_cer": r["test_cer"]})
        probes = sorted(args.probes.glob(f"{run.name}_*.json"),
                        key=lambda f: int(f.stem.rsplit("_", 1)[1]))
        for f in probes:
            n = int(f.stem.rsplit("_", 1)[1])
            r = json.loads(f.read_text())
            rows.append({"run": run.name, "updates": n, "cpu_s": cpu.get(n),
                         "best_layer": r["best_layer"], "test_cer": r["test_cer"],
                         "dev_cer_by_depth": r["dev_cer"]})
    print("| run | updates | CPU hours | best depth | test CER % | dev CER by depth |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        depths = " ".join(f"{x:.1f}" for x in r.get("dev_cer_by_depth", []))
        hours = "" if r["cpu_s"] is None else f"{r['cpu_s'] / 3600:.2f}"
        print(f"| {r['run']} | {r['updates']} | {hours} | {r['best_layer']} | "
              f"{r['test_cer']:.2f} | {depths} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
