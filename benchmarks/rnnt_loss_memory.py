"""Peak memory and time of the RNN-T loss (joint network + loss, forward + backward) for a
batch of 30-second utterances: torchaudio's rnnt_loss and the plain-PyTorch loss on the
whole batch, against mslam_rnnt's chunked joint (--rnnt-max-joint-elements). Each variant
runs in its own process (peak RSS on the CPU, torch.cuda.max_memory_allocated on CUDA),
so one variant's allocations never hide another's.

    python -m benchmarks.rnnt_loss_memory [--batch 4] [--seconds 30] [--vocab 256] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

VARIANTS = {"torchaudio, whole batch": ("torchaudio", 10**12),
            "plain PyTorch, whole batch": ("torch", 10**12),
            "plain PyTorch, chunked (1e8)": ("torch", 10**8),
            "torchaudio, chunked (1e8)": ("torchaudio", 10**8)}


def one(args) -> dict:
    from mslam_plugin.criterions.mslam_rnnt import chunks_by_joint_size, rnnt_loss_chunked
    from mslam_plugin.models.mslam_transducer import Joiner

    impl, budget = VARIANTS[args.variant]
    torch.manual_seed(0)
    dev = torch.device(args.device)
    t = int(args.seconds * 25)  # 40 ms encoder frames (4x subsampled 10 ms filterbanks)
    u = int(args.seconds * 15)  # graphemes: ~15 per second of read speech
    joiner = Joiner(args.joint_dim, args.vocab).to(dev)
    enc = torch.randn(args.batch, t, args.joint_dim, device=dev, requires_grad=True)
    pred = torch.randn(args.batch, u + 1, args.joint_dim, device=dev, requires_grad=True)
    targets = torch.randint(1, args.vocab, (args.batch, u), device=dev)
    t_len = torch.full((args.batch,), t, device=dev)
    u_len = torch.full((args.batch,), u, device=dev)
    if dev.type == "cuda":  # a warm-up call first: kernels load and the allocator grows
        rnnt_loss_chunked(joiner, enc, t_len, pred, targets, u_len, 0, budget, impl=impl).backward()
        enc.grad = pred.grad = None
        joiner.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    loss = rnnt_loss_chunked(joiner, enc, t_len, pred, targets, u_len, 0, budget, impl=impl)
    loss.backward()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {"variant": args.variant, "seconds": time.perf_counter() - start,
            "peak_gib": peak / 2**30, "loss": float(loss) / args.batch,
            "chunks": len(chunks_by_joint_size(t_len, u_len, args.vocab, budget)),
            "joint_gib": args.batch * t * (u + 1) * args.vocab * 4 / 2**30}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--joint-dim", type=int, default=640)
    p.add_argument("--device", default="cpu")
    p.add_argument("--variant", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.variant:
        print(json.dumps(one(args)))
        return
    print(f"batch {args.batch} x {args.seconds:.0f} s (T={int(args.seconds * 25)}, "
          f"U={int(args.seconds * 15)}), vocab {args.vocab}, joint dim {args.joint_dim}, "
          f"{args.device}, {torch.get_num_threads()} threads")
    print("| variant | chunks | peak memory (GiB) | time (s) | loss / utt |")
    print("|---|---|---|---|---|")
    results = []
    for name in VARIANTS:
        cmd = [sys.executable, "-m", "benchmarks.rnnt_loss_memory", "--variant", name,
               "--batch", str(args.batch), "--seconds", str(args.seconds), "--vocab",
               str(args.vocab), "--joint-dim", str(args.joint_dim), "--device", args.device]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"| {name} | failed: {proc.stderr.strip().splitlines()[-1]} | | | |")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"| {name} | {r['chunks']} | {r['peak_gib']:.2f} | {r['seconds']:.1f} | {r['loss']:.1f} |")
    if results:
        print(f"joint output alone (B x T x (U+1) x V fp32): {results[0]['joint_gib']:.2f} GiB")


if __name__ == "__main__":
    main()
