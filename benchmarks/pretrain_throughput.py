"""Pre-training throughput of mslam_tiny on this machine, and the share of step time
spent waiting for data with fairseq's iterator and one loader worker (goal: under 10%).

    python -m benchmarks.pretrain_throughput --data data/tiny --steps 30

Uses the tiny recipe's batch (6 speech : 12 text : 3 paired sequences) through the real
task, dataset, iterator, criterion and an Adam step.
"""

import argparse
import time

import torch
from fairseq import options, tasks
from fairseq.dataclass.utils import convert_namespace_to_omegaconf

RECIPE = ["--speech-sequences", "6", "--text-sequences", "12", "--paired-sequences", "3",
          "--max-text-chars-per-batch", "1024", "--max-speech-frames-per-batch", "8000",
          "--max-paired-frames-per-batch", "4000", "--dropout", "0.0", "--batch-size", "1"]


def speech_seconds(batch) -> float:
    frames = sum(int((~batch[k]["fbank_padding_mask"]).sum()) for k in ("speech", "paired") if k in batch)
    return frames / 100.0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/tiny")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--workers", type=int, default=1)
    a = p.parse_args()
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, [a.data, "--user-dir", "mslam_plugin", "--task",
                                                "mslam_pretraining", "--arch", "mslam_tiny",
                                                "--criterion", "mslam_pretraining",
                                                "--batches-per-epoch", str(a.steps + 2), *RECIPE])
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    task.load_dataset("train", combine=True)
    model, criterion = task.build_model(cfg.model).train(), task.build_criterion(cfg.criterion)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    itr = task.get_batch_iterator(task.dataset("train"), num_workers=a.workers).next_epoch_itr(shuffle=True)
    waits, totals, speech = [], [], 0.0
    start = time.perf_counter()
    for step, batch in enumerate(itr):
        got = time.perf_counter()
        loss, _, _ = criterion(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        done = time.perf_counter()
        if step >= 2:  # the first batches pay for worker start-up
            waits.append(got - start)
            totals.append(done - start)
            speech += speech_seconds(batch)
        start = time.perf_counter()
    total = sum(totals)
    print(f"torch threads {torch.get_num_threads()}, loader workers {a.workers}, "
          f"{len(totals)} timed updates")
    print(f"updates/s {len(totals) / total:.3f}  ({total / len(totals):.2f} s/update)")
    print(f"seconds of speech (speech-only + paired) per second: {speech / total:.1f}")
    print(f"waiting for data: {100 * sum(waits) / total:.1f}% of step time")


if __name__ == "__main__":
    main()
