"""Fault test: a pre-training run killed with SIGKILL ten times, at random moments and
right after checkpoint saves, then finished, ends with exactly the weights of a run that
was never interrupted. Both run on one CPU thread: with several, float reductions are
scheduled differently from run to run, and even two uninterrupted runs differ in the
last bits (about 2e-5 after 12 updates, measured with 2 threads)."""

import os
import random
import subprocess
import time
from pathlib import Path

import pytest
import torch

from test_pretraining_e2e import _train_cmd

pytestmark = pytest.mark.slow
UPDATES = 20
ONE_THREAD = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def _weights(save_dir: Path) -> dict:
    state = torch.load(save_dir / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["optimizer_history"][-1]["num_updates"] == UPDATES
    return state["model"]


def _newest_save(save_dir: Path) -> float:
    return max((p.stat().st_mtime for p in save_dir.glob("checkpoint*.pt")), default=0.0)


def test_ten_kills_then_resume_give_the_uninterrupted_weights(tiny_corpus, tmp_path):
    extra = ("--save-interval-updates", "1", "--keep-interval-updates", "2")
    clean = subprocess.run(_train_cmd(tiny_corpus, tmp_path / "clean", UPDATES, *extra),
                           capture_output=True, text=True, timeout=900, env=ONE_THREAD)
    assert clean.returncode == 0, clean.stderr[-3000:]

    killed = tmp_path / "killed"
    cmd = _train_cmd(tiny_corpus, killed, UPDATES, *extra)
    rng = random.Random(0)
    kills = 0
    while kills < 10:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=ONE_THREAD)
        before = _newest_save(killed)
        if kills % 2:  # right after a checkpoint save
            deadline = time.time() + 120
            while _newest_save(killed) == before and proc.poll() is None and time.time() < deadline:
                time.sleep(0.02)
        else:  # at a random moment (start-up, a step, or a save)
            time.sleep(rng.uniform(3.0, 9.0))
        if proc.poll() is not None:
            break  # finished before this kill: the run is complete
        proc.kill()
        proc.wait()
        kills += 1
    assert kills == 10, f"the run finished after only {kills} kills; kill sooner"
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=ONE_THREAD)
    assert final.returncode == 0, final.stderr[-3000:]
    assert not list(killed.glob("*.tmp"))
    reference, resumed = _weights(tmp_path / "clean"), _weights(killed)
    assert reference.keys() == resumed.keys()
    for key in reference:
        assert torch.equal(reference[key], resumed[key]), key
