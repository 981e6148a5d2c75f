"""fairseq imports the package through its own --user-dir mechanism, exactly once, and
the README's table lists exactly what is registered."""

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "mslam_plugin"


def _registered() -> dict[str, set[str]]:
    from fairseq.criterions import CRITERION_REGISTRY
    from fairseq.models import ARCH_MODEL_REGISTRY, MODEL_REGISTRY
    from fairseq.optim import OPTIMIZER_REGISTRY
    from fairseq.optim.lr_scheduler import LR_SCHEDULER_REGISTRY
    from fairseq.scoring import SCORER_REGISTRY
    from fairseq.tasks import TASK_REGISTRY

    import mslam_plugin  # noqa: F401  (registers everything)

    pick = lambda reg: {n for n in reg if n.startswith("mslam")}
    return {"task": pick(TASK_REGISTRY), "model": pick(MODEL_REGISTRY),
            "architecture": pick(ARCH_MODEL_REGISTRY), "criterion": pick(CRITERION_REGISTRY),
            "optimizer": pick(OPTIMIZER_REGISTRY), "lr scheduler": pick(LR_SCHEDULER_REGISTRY),
            "scorer": pick(SCORER_REGISTRY)}


def test_user_dir_import_twice_registers_once():
    from fairseq.utils import import_user_module

    for _ in range(2):  # a second import must not raise "Cannot register duplicate"
        import_user_module(argparse.Namespace(user_dir=str(PKG)))
    assert {"mslam_tiny", "mslam_base", "mslam_large"} <= _registered()["architecture"]


def test_readme_table_lists_every_registered_name():
    rows = re.findall(r"^\| (task|model|architecture|criterion|optimizer|lr scheduler|scorer) "
                      r"\| `([a-z0-9_]+)`",
                      (REPO / "README.md").read_text(), flags=re.M)
    documented: dict[str, set[str]] = {k: set() for k in _registered()}
    for kind, name in rows:
        documented[kind].add(name)
    assert documented == _registered()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True,
                          check=False, timeout=300)


def test_fairseq_train_and_generate_accept_the_user_dir(tmp_path):
    # from another directory, with the path a user would pass
    train = _cli("fairseq-train", "--user-dir", str(PKG), "--arch", "no_such_arch", cwd=tmp_path)
    choices = train.stderr.rsplit("(choose from", 1)[-1]
    assert "'mslam_tiny'" in choices and "'mslam_large'" in choices, train.stderr
    assert "Cannot register duplicate" not in train.stderr
    generate = _cli("fairseq-generate", "--user-dir", "mslam_plugin", "--help", cwd=REPO)
    assert generate.returncode == 0, generate.stderr


def test_architecture_presets_reach_the_parsed_config():
    from fairseq import options

    parser = options.get_training_parser()
    args = options.parse_args_and_arch(
        parser, ["--user-dir", str(PKG), "--arch", "mslam_tiny", "--pos-scheme", "shaw", "DATA"])
    assert (args.encoder_embed_dim, args.speech_encoder_layers, args.pos_scheme) == (144, 2, "shaw")
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, ["--user-dir", str(PKG), "--arch", "mslam_large", "DATA"])
    assert (args.encoder_embed_dim, args.multimodal_encoder_layers) == (1408, 32)


def test_every_registered_name_is_its_file_name():
    # a maintainer who knows fairseq finds `--task mslam_asr` in tasks/mslam_asr.py
    from fairseq.criterions import CRITERION_REGISTRY
    from fairseq.data.audio.feature_transforms import AUDIO_FEATURE_TRANSFORM_REGISTRY
    from fairseq.models import MODEL_REGISTRY
    from fairseq.optim import OPTIMIZER_REGISTRY
    from fairseq.optim.lr_scheduler import LR_SCHEDULER_REGISTRY
    from fairseq.scoring import SCORER_REGISTRY
    from fairseq.tasks import TASK_REGISTRY

    import mslam_plugin  # noqa: F401  (registers everything)

    registries = (TASK_REGISTRY, CRITERION_REGISTRY, MODEL_REGISTRY, OPTIMIZER_REGISTRY,
                  LR_SCHEDULER_REGISTRY, SCORER_REGISTRY, AUDIO_FEATURE_TRANSFORM_REGISTRY)
    ours = {name: cls for reg in registries for name, cls in reg.items()
            if cls.__module__.startswith("mslam_plugin.")}
    assert len(ours) >= 10
    wrong = {name: cls.__module__ for name, cls in ours.items()
             if cls.__module__.rsplit(".", 1)[-1] != name}
    assert not wrong, f"registered name != file name: {wrong}"
