"""Pre-training data at scale: start-up time and memory of the pre-training sources, the
cost of planning batches, and loader-worker memory, on synthetic manifests of millions of
rows (the rows point at a few real audio files).

    python -m benchmarks.data_scale --speech-rows 1000000,10000000,30000000 \\
        --text-rows 10000000 [--out DIR]

Per speech size (100 languages, Zipf-distributed; text 10M rows over 101 languages;
paired 100k rows), each in a fresh process:
* index build: the one-time pass that writes ``<manifest>.index/`` (not start-up);
* start-up: opening the three sources and the mixed dataset with their indexes built,
  wall time and the main process's peak RSS;
* planning: 10,000 mixed batches of the paper's 2048 : 8192 : 256 sequences;
* loader workers: 2 forked workers each load 16 random batches of 8 speech items; their
  RSS, PSS (shared pages split between the processes that map them) and private memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

LANGS = 100


def _zipf_langs(n: int, langs: int, seed: int) -> np.ndarray:
    w = 1.0 / np.arange(1, langs + 1)
    return np.random.default_rng(seed).choice(langs, size=n, p=w / w.sum())


def write_corpus(out: Path, speech_rows: int, text_rows: int, paired_rows: int) -> None:
    """Synthetic speech / text / paired manifests (skipped when already written)."""
    out.mkdir(parents=True, exist_ok=True)
    audio = []
    for i in range(8):
        path = out / f"a{i}.flac"
        if not path.exists():
            x = 0.1 * np.sin(np.arange(16000 * (2 + i)) / (20 + i))
            sf.write(path, x.astype(np.float32), 16000)
        audio.append((path.name, 1 + (16000 * (2 + i) - 400) // 160))
    from mslam_plugin.data.char_vocab import build_char_vocab

    build_char_vocab({"all": ["some text of row a transcript 0123456789"]}).save(out / "dict.char.txt")
    specs = [("speech", speech_rows, "id\taudio\tn_frames\tspeaker\tlang",
              lambda i, a, lang: f"s{i}\t{a[0]}\t{a[1]}\tspk{i % 997}\tl{lang}"),
             ("text", text_rows, "id\ttext\tlang\tsource",
              lambda i, a, lang: f"t{i}\t{'some text of row ' * (1 + i % 20)}{i}\tl{lang}\tsyn"),
             ("paired", paired_rows, "id\taudio\tn_frames\ttgt_text\tspeaker\tsrc_lang",
              lambda i, a, lang: f"p{i}\t{a[0]}\t{a[1]}\ta transcript {i}\tspk{i % 97}\tl{lang}")]
    for kind, n, header, row in specs:
        path = out / f"{kind}_{n}.tsv"
        if path.exists():
            continue
        langs = _zipf_langs(n, LANGS + (kind == "text"), seed=len(kind))
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as f:
            f.write(header + "\n")
            for start in range(0, n, 100_000):
                f.write("".join(row(i, audio[i % 8], langs[i]) + "\n"
                                for i in range(start, min(n, start + 100_000))))
        tmp.replace(path)


def _smaps() -> dict:
    fields = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0]) / 1024  # MiB
    return {"rss": fields["Rss"], "pss": fields["Pss"],
            "private": fields["Private_Clean"] + fields["Private_Dirty"]}


def measure(out: Path, speech_rows: int, text_rows: int, paired_rows: int) -> dict:
    """Run in a fresh process: start-up, planning and loader-worker figures."""
    import torch  # noqa: F401  (imported before timing: part of any training process)

    from mslam_plugin.data.char_vocab import load_char_dictionary
    from mslam_plugin.data.mixed_dataset import MSLAMMixedDataset
    from mslam_plugin.data.item_source import ItemSource

    d = load_char_dictionary(out / "dict.char.txt")
    paths = {"speech": out / f"speech_{speech_rows}.tsv", "text": out / f"text_{text_rows}.tsv",
             "paired": out / f"paired_{paired_rows}.tsv"}
    start = time.perf_counter()
    sources = {k: ItemSource(p, k, d) for k, p in paths.items()}
    ds = MSLAMMixedDataset(sources, {"speech": 2048, "text": 8192, "paired": 256},
                           {"speech": 10**9, "text": 10**9, "paired": 10**9}, 10_000, d)
    startup = time.perf_counter() - start
    main_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    for i in range(10_000):
        ds.plan_batch(i)
    planning = time.perf_counter() - start
    workers = []
    for w in range(2):
        read, write = os.pipe()
        if os.fork() == 0:  # a loader worker: forked, loads items, reports its memory
            os.close(read)
            rng = np.random.default_rng(w)
            for _ in range(16):
                for row in rng.integers(0, len(sources["speech"]), size=8):
                    sources["speech"].load(int(row))
            os.write(write, json.dumps(_smaps()).encode())
            os._exit(0)
        os.close(write)
        workers.append(json.loads(os.read(read, 1 << 16)))
        os.wait()
    return {"speech_rows": speech_rows, "text_rows": text_rows, "startup_s": round(startup, 2),
            "main_peak_rss_mib": round(main_rss), "plan_10k_batches_s": round(planning, 1),
            "workers": [{k: round(v) for k, v in w.items()} for w in workers]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--speech-rows", default="1000000")
    p.add_argument("--text-rows", type=int, default=10_000_000)
    p.add_argument("--paired-rows", type=int, default=100_000)
    p.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "mslam_data_scale",
                   help="where the synthetic manifests are written (tens of GB at 100M rows)")
    p.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.out, args.measure, args.text_rows, args.paired_rows)))
        return
    print("| speech rows | text rows | index build (s, once; text at the first size only) | start-up (s) | main peak RSS (MiB) "
          "| plan 10k batches (s) | worker RSS / PSS / private (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for n in (int(x) for x in args.speech_rows.split(",")):
        write_corpus(args.out, n, args.text_rows, args.paired_rows)
        start = time.perf_counter()  # the first opening builds the indexes
        subprocess.run([sys.executable, "-c", (
            "import sys; from pathlib import Path; from mslam_plugin.data.manifest_index import "
            "ManifestIndex as M; [M.open(Path(p), k) for p, k in zip(sys.argv[1::2], sys.argv[2::2])]"),
            str(args.out / f"speech_{n}.tsv"), "speech", str(args.out / f"text_{args.text_rows}.tsv"),
            "text", str(args.out / f"paired_{args.paired_rows}.tsv"), "paired"], check=True)
        built = time.perf_counter() - start
        proc = subprocess.run([sys.executable, "-m", "benchmarks.data_scale", "--out", str(args.out),
                               "--text-rows", str(args.text_rows), "--paired-rows",
                               str(args.paired_rows), "--measure", str(n)],
                              capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        w = " ; ".join(f"{x['rss']} / {x['pss']} / {x['private']}" for x in r["workers"])
        print(f"| {n:,} | {args.text_rows:,} | {built:.0f} | {r['startup_s']} | "
              f"{r['main_peak_rss_mib']} | {r['plan_10k_batches_s']} | {w} |", flush=True)


if __name__ == "__main__":
    main()
