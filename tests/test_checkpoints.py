"""Crash-safe checkpoints: atomic copies to checkpoint_last / best, a resume that skips
an unreadable checkpoint_last, and read errors that name the file."""

import logging
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

import mslam_plugin  # noqa: F401  (installs the checkpoint patches)
from mslam_plugin import checkpoints
from mslam_plugin.checkpoints import CheckpointError, atomic_copy, damage, recover_last

from test_pretraining_e2e import _train_cmd


def _save(path: Path, updates: int) -> None:
    torch.save({"model": {"w": torch.full((64, 64), float(updates))},
                "optimizer_history": [{"num_updates": updates}]}, path)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_interrupted_copy_leaves_the_old_file_whole(tmp_path, monkeypatch):
    src, dst = tmp_path / "checkpoint_2_20.pt", tmp_path / "checkpoint_last.pt"
    _save(src, 20)
    _save(dst, 10)
    before = dst.read_bytes()

    def dies_half_way(fin, fout, length=0):
        fout.write(fin.read(1000))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", dies_half_way)
    with pytest.raises(OSError):
        atomic_copy(src, dst)
    assert dst.read_bytes() == before and damage(dst) is None
    assert not list(tmp_path.glob("*.tmp"))


def test_fairseq_copies_checkpoints_through_the_atomic_copy(tmp_path, monkeypatch):
    from fairseq.file_io import PathManager

    src, dst = tmp_path / "a.pt", tmp_path / "checkpoint_last.pt"
    _save(src, 5)
    calls = []
    real = checkpoints.atomic_copy
    monkeypatch.setattr(checkpoints, "atomic_copy", lambda s, d: (calls.append(d), real(s, d)))
    assert PathManager.copy(str(src), str(dst), overwrite=True)
    assert calls == [str(dst)] and dst.read_bytes() == src.read_bytes()
    assert PathManager.copy(str(src), str(dst), overwrite=False) is False


def test_resume_skips_an_unreadable_checkpoint_last(tmp_path, caplog):
    for n in (10, 20, 30):
        _save(tmp_path / f"checkpoint_1_{n}.pt", n)
    _truncate(tmp_path / "checkpoint_1_30.pt")  # the newest is damaged too
    shutil.copy(tmp_path / "checkpoint_1_30.pt", tmp_path / "checkpoint_last.pt")
    (tmp_path / "checkpoint_1_40.pt.tmp").write_bytes(b"partial")
    assert damage(tmp_path / "checkpoint_last.pt") is not None
    with caplog.at_level(logging.WARNING):
        source = recover_last(tmp_path)
    assert source == tmp_path / "checkpoint_1_20.pt"
    state = torch.load(tmp_path / "checkpoint_last.pt", weights_only=False)
    assert state["optimizer_history"][-1]["num_updates"] == 20
    assert not list(tmp_path.glob("*.tmp"))
    assert "checkpoint_last.pt is unreadable" in caplog.text and "checkpoint_1_20.pt" in caplog.text
    assert recover_last(tmp_path) is None  # intact now: nothing to do


def test_no_intact_checkpoint_is_an_error_naming_the_file(tmp_path):
    _save(tmp_path / "checkpoint_last.pt", 3)
    _truncate(tmp_path / "checkpoint_last.pt")
    with pytest.raises(CheckpointError, match=r"checkpoint_last\.pt: unreadable"):
        recover_last(tmp_path)


def test_reading_a_truncated_checkpoint_names_it(tmp_path):
    from fairseq import checkpoint_utils

    path = tmp_path / "pretrain.pt"
    _save(path, 3)
    _truncate(path)
    with pytest.raises(CheckpointError, match=r"pretrain\.pt: not a readable checkpoint"):
        checkpoint_utils.load_checkpoint_to_cpu(str(path))
    with pytest.raises(CheckpointError, match=r"missing\.pt: no such checkpoint file"):
        checkpoint_utils.load_checkpoint_to_cpu(str(tmp_path / "missing.pt"))


@pytest.mark.slow
def test_training_resumes_past_a_truncated_checkpoint_last(tiny_corpus, tmp_path):
    first = subprocess.run(_train_cmd(tiny_corpus, tmp_path, 4, "--keep-interval-updates", "2"),
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    _truncate(tmp_path / "checkpoint_last.pt")
    _truncate(tmp_path / "checkpoint_1_4.pt")
    rerun = subprocess.run(_train_cmd(tiny_corpus, tmp_path, 6, "--keep-interval-updates", "2"),
                           capture_output=True, text=True, timeout=600)
    log = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, log[-3000:]
    assert "resuming from" in log and "checkpoint_1_2.pt" in log
    assert "Loaded checkpoint" in log and "@ 2 updates" in log
    state = torch.load(tmp_path / "checkpoint_last.pt", weights_only=False)
    assert state["optimizer_history"][-1]["num_updates"] == 6


def test_a_checkpoint_of_another_width_is_one_clear_error(tmp_path, monkeypatch):
    from fairseq import checkpoint_utils

    from mslam_plugin.models.pretrained import PretrainedEncoder
    from test_mslam_st import _model

    encoder = _model().encoder
    # a pre-training checkpoint's layout: the encoder body at the top level
    state = {k[len("mslam."):]: v for k, v in encoder.state_dict().items()
             if k.startswith("mslam.")}
    key = next(k for k in state if k.startswith("speech_encoder.") and state[k].dim() == 2)
    state[key] = torch.zeros(state[key].shape[0] + 8, state[key].shape[1])
    monkeypatch.setattr(checkpoint_utils, "load_checkpoint_to_cpu", lambda path: {"model": state})
    (tmp_path / "wide.pt").touch()
    with pytest.raises(CheckpointError) as err:
        encoder.load_pretrained(PretrainedEncoder.read(tmp_path / "wide.pt"))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'wide.pt'}: 1 encoder tensors differ in shape")
    assert key in message and "another --arch" in message and "\n" not in message
