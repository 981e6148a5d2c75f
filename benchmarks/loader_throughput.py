"""Loader throughput for speech, per CPU core: seconds of audio per second that one loader
process turns into model input, with the filterbanks computed in the loader (the default)
and with ``--fbank-on-device`` (the loader only decodes; the filterbanks of whole batches
are computed on ``--device``).

    python -m benchmarks.loader_throughput                      # CPU only
    python -m benchmarks.loader_throughput --device cuda        # adds the GPU side

The audio is synthetic 16 kHz FLAC (a tone under noise, 2-15 s per file, written to a
temporary directory) unless ``--manifest`` names a speech manifest to read from. One
thread, one process: a loader worker's view.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from mslam_plugin.data.manifest import read_manifest, resolve_audio
from mslam_plugin.data.sources import WAVEFORM, collate_speech, device_fbank, load_fbank


def synthetic_files(out: Path, n: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        samples = int(16000 * rng.uniform(2, 15))
        t = np.arange(samples) / 16000
        x = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 300) * t) + 0.05 * rng.normal(size=samples)
        paths.append(out / f"u{i}.flac")
        sf.write(paths[-1], x.astype(np.float32), 16000)
    return paths


def manifest_files(path: Path, n: int) -> list[Path]:
    rows = read_manifest(path, "speech").rows[:n]
    return [resolve_audio(r["audio"], path.parent) for r in rows]


def loader_rate(paths: list[Path], features: str, reps: int) -> tuple[float, list]:
    """Seconds of audio per second of one loader process, and the last pass's items."""
    best, items = 0.0, []
    for _ in range(reps):
        start = time.perf_counter()
        items = [load_fbank(p, str(p), features) for p in paths]
        elapsed = time.perf_counter() - start
        audio = sum(sf.info(str(p)).duration for p in paths)
        best = max(best, audio / elapsed)
    return best, items


def device_rate(waveforms: list[torch.Tensor], device: str, batch: int, reps: int) -> float:
    """Seconds of audio per second of ``device`` time for batched filterbanks (the
    padded waveforms already on the device, as after fairseq's move to the GPU)."""
    batches = [collate_speech([{"wav": w} for w in waveforms[i : i + batch]])
               for i in range(0, len(waveforms), batch)]
    batches = [{k: v.to(device) for k, v in b.items()} for b in batches]
    audio = sum(w.numel() for w in waveforms) / 16000
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    device_fbank(batches[0])  # warm-up (mel banks, kernels)
    best = 0.0
    for _ in range(reps):
        sync()
        start = time.perf_counter()
        for b in batches:
            device_fbank(b)
        sync()
        best = max(best, audio / (time.perf_counter() - start))
    return best


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", type=Path, help="a speech manifest (default: synthetic audio)")
    p.add_argument("--files", type=int, default=48)
    p.add_argument("--batch", type=int, default=16, help="utterances per device batch")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        paths = (manifest_files(args.manifest, args.files) if args.manifest
                 else synthetic_files(Path(tmp), args.files))
        audio = sum(sf.info(str(q)).duration for q in paths)
        print(f"{len(paths)} files, {audio:.0f} s of audio; one thread; best of {args.reps}")
        fbank, _ = loader_rate(paths, "fbank", args.reps)
        decode, waves = loader_rate(paths, WAVEFORM, args.reps)
    print("| loader work per item | s of audio / s / core | ratio |")
    print("|---|---|---|")
    print(f"| decode + Kaldi fbank + normalisation (default) | {fbank:.0f} | 1.00 |")
    print(f"| decode only (--fbank-on-device) | {decode:.0f} | {decode / fbank:.2f} |")
    on = device_rate(waves, args.device, args.batch, args.reps)
    print(f"\nbatched filterbanks on {args.device} (batches of {args.batch}): "
          f"{on:.0f} s of audio per second")


if __name__ == "__main__":
    main()
