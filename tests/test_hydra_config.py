"""The fairseq-hydra-train configs for cluster pre-training compose, hold the paper's
settings, refuse to start without their required values, and train mslam_tiny for 2
updates on the tiny corpus with overrides."""

import argparse
import json
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples/pretrain/config"
BIN = Path(sys.executable).parent / "fairseq-hydra-train"


def _compose(name: str):
    from hydra import compose, initialize_config_dir

    # version_base 1.1: fairseq itself relies on hydra 1.1 behaviour, set process-wide here
    with initialize_config_dir(config_dir=str(CONFIG), version_base="1.1"):
        return compose(config_name=name)


@pytest.mark.parametrize("name,arch,lr,updates", [("mslam_base", "mslam_base", 6e-4, 1_300_000),
                                                  ("mslam_large", "mslam_large", 3.6e-4, 350_000)])
def test_configs_hold_the_papers_settings(name, arch, lr, updates):
    cfg = _compose(name)
    assert cfg.model._name == "mslam" and cfg.optimization.lr == [lr]
    assert cfg.optimization.max_update == updates
    assert cfg.lr_scheduler._name == "inverse_sqrt" and cfg.lr_scheduler.warmup_updates == 40000
    assert cfg.task.language_temperature == 3.0 and cfg.common.bf16
    for key in ("task.data", "checkpoint.save_dir", "distributed_training.distributed_world_size"):
        group, leaf = key.split(".")
        assert OmegaConf.is_missing(cfg[group], leaf), key
    assert cfg.model.get("checkpoint_activations", False) == (name == "mslam_large")
    _assert_model_is(cfg.model, arch)


def _assert_model_is(model_cfg, arch: str):
    """Every option of the composed model equals what the architecture preset gives."""
    from fairseq.models import ARCH_CONFIG_REGISTRY

    import mslam_plugin  # noqa: F401  (registers the architectures)
    from mslam_plugin.models.mslam import MSLAMConfig

    preset = argparse.Namespace()
    ARCH_CONFIG_REGISTRY[arch](preset)
    composed = OmegaConf.merge(OmegaConf.structured(MSLAMConfig),
                               {k: v for k, v in model_cfg.items() if k != "_name"})
    for f in fields(MSLAMConfig):
        if f.name not in ("checkpoint_activations", "_name"):
            assert composed[f.name] == getattr(preset, f.name), (arch, f.name)


@pytest.mark.parametrize("size", ["mslam_tiny", "mslam_base", "mslam_large"])
def test_model_sizes_equal_the_architecture_presets(size):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG), version_base="1.1"):
        cfg = compose(config_name="mslam_base", overrides=[f"model={size}"])
    _assert_model_is(cfg.model, size)


def _run(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [str(BIN), "--config-dir", str(CONFIG), "--config-name", "mslam_base", *overrides]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)


def test_a_required_value_left_out_is_named(tmp_path):
    proc = _run(tmp_path, f"common.user_dir={REPO / 'mslam_plugin'}")
    assert proc.returncode != 0
    assert "Missing mandatory value" in proc.stderr + proc.stdout


def test_two_updates_of_mslam_tiny_with_overrides(tiny_corpus, tmp_path):
    proc = _run(tmp_path, f"task.data={tiny_corpus}", f"checkpoint.save_dir={tmp_path / 'ckpt'}",
                f"common.user_dir={REPO / 'mslam_plugin'}", "distributed_training.distributed_world_size=1",
                "model=mslam_tiny", "optimization.update_freq=[1]", "common.cpu=true", "common.bf16=false",
                "common.log_interval=1", "optimization.max_update=2", "task.speech_sequences=2",
                "task.text_sequences=2", "task.paired_sequences=1", "task.batches_per_epoch=2",
                "task.fbank_on_device=false", "dataset.num_workers=0",
                "dataset.disable_validation=true", "checkpoint.no_save=true")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    inner = [json.loads(line[line.index("{"):]) for line in log.splitlines() if "train_inner" in line]
    assert [int(x["num_updates"]) for x in inner] == [1, 2]
    assert all(float(x["loss"]) > 0 for x in inner)
    params = re.search(r"num. shared model params: ([\d,]+)", log)
    assert params and int(params.group(1).replace(",", "")) < 10_000_000, log[-3000:]  # tiny
