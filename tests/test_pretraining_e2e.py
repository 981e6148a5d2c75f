"""fairseq-train --task mslam_pretraining end to end on the tiny corpus: losses logged,
kill + rerun resumes from checkpoint_last, and 2 CPU processes (gloo) follow the same
loss trajectory as 1 process with the same total batch."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def _train_cmd(data: Path, save_dir: Path, max_update: int, *extra: str) -> list[str]:
    return [str(Path(sys.executable).parent / "fairseq-train"), str(data),
            "--user-dir", str(REPO / "mslam_plugin"), "--task", "mslam_pretraining",
            "--arch", "mslam_tiny", "--criterion", "mslam_pretraining", "--batch-size", "1",
            "--speech-sequences", "2", "--text-sequences", "4", "--paired-sequences", "2",
            "--batches-per-epoch", "8", "--dropout", "0.0", "--optimizer", "adam",
            "--lr", "5e-4", "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "4",
            "--max-update", str(max_update), "--save-interval-updates", "2",
            "--no-epoch-checkpoints", "--disable-validation", "--log-interval", "1",
            "--log-format", "json", "--save-dir", str(save_dir), "--cpu", "--num-workers", "0",
            "--seed", "3", *extra]


def test_train_logs_every_objective_then_resumes_after_kill(tiny_corpus, tmp_path):
    cmd = _train_cmd(tiny_corpus, tmp_path, 6)
    # output to a file: an unread pipe fills up and blocks the training process
    with open(tmp_path / "first.log", "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    last = tmp_path / "checkpoint_last.pt"
    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    time.sleep(1.0)  # let the save finish
    proc.kill()
    proc.wait()
    assert last.exists(), "no checkpoint was written before the kill"
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    log = rerun.stdout + rerun.stderr
    loaded = re.search(r"Loaded checkpoint .*\(epoch \d+ @ (\d+) updates\)", log)
    assert loaded and int(loaded.group(1)) >= 2, log[-3000:]
    inner = [line for line in log.splitlines() if "train_inner" in line]
    assert inner and '"num_updates": "6"' in inner[-1]
    for key in ("loss_w2v_contrastive", "loss_w2v_mlm", "loss_text_mlm", "loss_tlm_text",
                "loss_tlm_speech", "loss_ctc", "acc_w2v_mlm", "code_perplexity"):
        assert f'"{key}"' in inner[-1], key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_match_one_process_with_update_freq_2(tiny_corpus, tmp_path):
    single = subprocess.run(_train_cmd(tiny_corpus, tmp_path / "one", 4, "--update-freq", "2"),
                            capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    port = _free_port()
    dist = ["--ddp-backend", "legacy_ddp", "--distributed-backend", "gloo",
            "--distributed-init-method", f"tcp://127.0.0.1:{port}",
            "--distributed-world-size", "2", "--distributed-no-spawn"]
    procs = [subprocess.Popen(_train_cmd(tiny_corpus, tmp_path / "two", 4, *dist,
                                         "--distributed-rank", str(rank)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=dict(os.environ, OMP_NUM_THREADS="1"))
             for rank in (0, 1)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs[0][-3000:] + outs[1][-3000:]
    one = _inner_losses(single.stdout + single.stderr)
    two = _inner_losses(outs[0])
    assert len(one) == len(two) == 4
    # Same batches and masks; only the quantizer's Gumbel noise is drawn in another order.
    for a, b in zip(one, two):
        assert abs(a - b) <= 0.05 * a, (one, two)


def _inner_losses(log: str) -> list[float]:
    return [float(re.search(r'"loss": "([0-9.]+)"', line).group(1))
            for line in log.splitlines() if '"train_inner"' in line or "train_inner" in line
            if re.search(r'"loss": "([0-9.]+)"', line)]
