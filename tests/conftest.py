"""Shared fixtures: a tiny offline corpus (2 languages x 5 sentences), built once."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_ARGS = ["--langs", "de,ko", "--train-units", "3", "--dev-units", "1",
             "--test-units", "1", "--seed", "7"]


def run_prepare(out: Path, *extra: str) -> str:
    """Run examples/tiny/prepare.sh with this interpreter first on PATH; returns its log."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(
        ["bash", str(REPO / "examples/tiny/prepare.sh"), "--data", str(out), *TINY_ARGS,
         *extra], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny_corpus")
    run_prepare(out)
    return out


def pytest_collection_modifyitems(config, items):
    """A test that needs the corpus builds it (about a minute): it counts as slow."""
    for item in items:
        if "tiny_corpus" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
