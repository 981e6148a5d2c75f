"""Run every benchmark with its documented command (``make bench``); results go to the
terminal, to be recorded in docs/benchmarks.md with the command that produced them.

    python -m benchmarks.run_all [--data data/tiny] [--exp exp/tiny] [--device cpu]

Benchmarks that need what ``make demo`` builds (the corpus, the pre-trained checkpoint)
are skipped, with the reason, when it is missing.
"""

import argparse
import subprocess
import sys
from pathlib import Path


def plan(data: Path, exp: Path, device: str) -> list[tuple[list[str], str]]:
    """(arguments of ``python -m``, what must exist or '') for each benchmark."""
    ckpt = exp / "pretrain/checkpoint_last.pt"
    return [
        (["benchmarks.conformer_speed", "--device", device], ""),
        (["benchmarks.rnnt_loss_memory", "--device", device], ""),
        (["benchmarks.loader_throughput", "--device", device], ""),
        (["benchmarks.pretrain_throughput", "--data", str(data)], str(data / "speech_train.tsv")),
        (["benchmarks.codebook_usage", str(ckpt), str(data / "speech_dev.tsv")], str(ckpt)),
    ]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("data/tiny"))
    p.add_argument("--exp", type=Path, default=Path("exp/tiny"))
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    failed = []
    for module_args, needs in plan(args.data, args.exp, args.device):
        name = module_args[0]
        if needs and not Path(needs).exists():
            print(f"== {name}: skipped, {needs} is missing (run `make demo` first)", flush=True)
            continue
        print(f"== python -m {' '.join(module_args)}", flush=True)
        if subprocess.run([sys.executable, "-m", *module_args]).returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
