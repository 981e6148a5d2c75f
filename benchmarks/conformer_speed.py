"""Forward + backward throughput of mSLAM's conformer stack against fairseq's own
conformer layer at identical dims, in one process, interleaved so that machine noise
hits both alike. Also reports achieved GFLOP/s against this machine's fp32 matmul rate
measured in the same run, and (``--device cuda``) bf16 model-FLOPs utilisation of the
``mslam_base`` speech path.

    python -m benchmarks.conformer_speed                      # CPU, dims 256 and 512
    python -m benchmarks.conformer_speed --device cuda --mfu  # GPU, adds mslam_base MFU
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from fairseq.modules.conformer_layer import ConformerEncoderLayer

from mslam_plugin.modules.conformer import MSLAMConformerStack


class FairseqStack(torch.nn.Module):
    """fairseq's ConformerEncoderLayer x N, batch-first in and out like ours."""

    def __init__(self, layers, dim, ffn, heads, kernel, attn_type, pos_enc_type):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            ConformerEncoderLayer(dim, ffn, heads, 0.0, False, kernel, "swish",
                                  attn_type=attn_type, pos_enc_type=pos_enc_type)
            for _ in range(layers))

    def forward(self, x, padding_mask):
        x = x.transpose(0, 1)
        for layer in self.layers:
            x, _ = layer(x, padding_mask)
        return x.transpose(0, 1)


def conformer_flops(batch, t, dim, ffn, kernel, layers) -> float:
    """Forward FLOPs of the stack: FFNs 8DF, projections 8D^2 (qkv+out) + 6D^2 (conv
    pointwise), attention 4TD, depthwise conv 2kD, per frame per layer; backward ~2x."""
    per_frame = 8 * dim * ffn + 14 * dim * dim + 4 * t * dim + 2 * kernel * dim
    return float(batch * t * layers * per_frame)


def matmul_gflops(device, dtype=torch.float32, n=2048, reps=10) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - start) / 1e9


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_time(model, x, mask, device) -> float:
    _sync(device)
    start = time.perf_counter()
    y = model(x, mask)
    y.float().square().mean().backward()
    _sync(device)
    return time.perf_counter() - start


def compare(dim, args, device):
    ffn, heads = 4 * dim, max(4, dim // 64)
    t = args.seconds * 100 // 4  # 10 ms fbank frames, 4x subsampling
    torch.manual_seed(0)
    models = {
        "mslam": MSLAMConformerStack(args.layers, dim=dim, ffn_dim=ffn, heads=heads,
                                     conv_kernel_size=args.kernel, dropout=0.0,
                                     pos="rotary", conv_norm_groups=32),
        "fairseq_rope": FairseqStack(args.layers, dim, ffn, heads, args.kernel, "espnet", "rope"),
        "fairseq_abs": FairseqStack(args.layers, dim, ffn, heads, args.kernel, None, "abs"),
    }
    x = torch.randn(args.batch, t, dim, device=device)
    mask = torch.zeros(args.batch, t, dtype=torch.bool, device=device)
    times = {name: [] for name in models}
    for name, m in models.items():
        m.to(device).train()
        step_time(m, x, mask, device)  # warm-up
    order = list(models)
    for rep in range(args.reps):
        for name in order[rep % len(order):] + order[:rep % len(order)]:  # rotate who goes first
            times[name].append(step_time(models[name], x, mask, device))
    flops = 3 * conformer_flops(args.batch, t, dim, ffn, args.kernel, args.layers)
    frames = args.batch * args.seconds * 100
    out = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        out[name] = {"s": med, "frames_per_s": frames / med, "gflops": flops / med / 1e9}
    return out


def mslam_base_mfu(args, device, peak_tflops: float, precision: str) -> str:
    """MFU of one training step of the mslam_base speech path: ``autocast`` (fp32 weights,
    bf16 autocast) or ``bf16`` (weights and activations in bf16, as fairseq's ``--bf16``
    trains)."""
    import argparse as ap

    from fairseq.models import ARCH_CONFIG_REGISTRY

    from mslam_plugin.models.mslam import MSLAMConfig, MSLAMModel

    ns = ap.Namespace(dropout=0.0, attention_dropout=0.0)
    ARCH_CONFIG_REGISTRY["mslam_base"](ns)
    cfg = MSLAMConfig(**vars(ns))
    model = MSLAMModel(cfg, 4102, 1).to(device).train()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    model = model.to(dtype)
    fbank = torch.randn(args.batch, args.seconds * 100, 80, device=device, dtype=dtype)
    pad = torch.zeros(fbank.shape[:2], dtype=torch.bool, device=device)
    ts = []
    for i in range(args.reps + 1):
        _sync(device)
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "autocast"):
            out = model.forward_speech(fbank, pad, quantize=False)
        out.context.float().square().mean().backward()
        _sync(device)
        if i:
            ts.append(time.perf_counter() - start)
    t = args.seconds * 100 // 4
    layers = cfg.speech_encoder_layers + cfg.multimodal_encoder_layers
    flops = 3 * conformer_flops(args.batch, t, 1024, 4096, 5, layers)
    step = statistics.median(ts)
    achieved = flops / step / 1e12
    return (f"mslam_base speech path, {precision}, batch {args.batch} x {args.seconds} s: "
            f"{step:.3f} s/step, {achieved:.1f} TFLOP/s = {100 * achieved / peak_tflops:.1f}% "
            f"MFU (peak {peak_tflops:.0f} TFLOP/s dense bf16); it consumes "
            f"{args.batch * args.seconds / step:.0f} s of audio per second")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dims", default="256,512")
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--kernel", type=int, default=5)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--mfu", action="store_true", help="bf16 MFU of mslam_base (CUDA only)")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="H100 SXM dense bf16")
    args = p.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{args.layers} layers, batch {args.batch} x {args.seconds} s "
          f"({args.seconds * 25} frames after 4x subsampling), kernel {args.kernel}")
    peak = matmul_gflops(device)
    print(f"fp32 matmul 2048^3: {peak:.1f} GFLOP/s")
    for dim in (int(d) for d in args.dims.split(",")):
        res = compare(dim, args, device)
        print(f"\ndim {dim}, ffn {4 * dim}, heads {max(4, dim // 64)}")
        for name, r in res.items():
            print(f"  {name:13s} {r['s']:.3f} s/step  {r['frames_per_s']:8.0f} frames/s  "
                  f"{r['gflops']:6.1f} GFLOP/s = {100 * r['gflops'] / peak:4.1f}% of matmul  "
                  f"speed-up of mslam {res[name]['s'] / res['mslam']['s'] if name != 'mslam' else 1:.2f}x")
    if args.mfu:
        for precision in ("autocast", "bf16"):
            print(mslam_base_mfu(args, device, args.peak_tflops, precision))


if __name__ == "__main__":
    main()
