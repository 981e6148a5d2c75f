"""The command-line entry points: every console script of setup.py resolves to a
``main(argv)`` in mslam_plugin/cli/ that answers ``--help``; every ``python -m`` module
path the documentation uses runs the same command; library modules hold no argparse."""

import ast
import contextlib
import importlib
import io
import runpy
import sys
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "mslam_plugin"
# `python -m` module -> the console script of the same command
MODULE_COMMANDS = {
    "mslam_plugin.decode_asr": "mslam-decode-asr",
    "mslam_plugin.decode_ctc": "mslam-decode-ctc",
    "mslam_plugin.scoring": "mslam-score",
    "mslam_plugin.convert_w2vbert2": "mslam-convert-w2vbert2",
    "mslam_plugin.corpus.covost2": "mslam-prepare-covost2",
    "mslam_plugin.corpus.mls_voxpopuli": "mslam-prepare-asr",
    "mslam_plugin.corpus.unlabeled_speech": "mslam-prepare-unlabeled-speech",
    "mslam_plugin.corpus.mc4": "mslam-prepare-mc4",
    "mslam_plugin.corpus.tiny.prepare": "mslam-prepare-tiny",
    "mslam_plugin.corpus.libreoffice_help": "mslam-prepare-mt-text",
    "mslam_plugin.cli.probe": "mslam-probe",
}
# modules that may import argparse although they are not command lines
ARGPARSE_ALLOWED = {"__init__.py",  # registers argparse.Namespace as safe to load
                    "models/mslam_st.py"}  # fairseq's Transformer decoder takes a Namespace


def _console_scripts() -> dict[str, str]:
    """name -> "module:function", read from setup.py's entry_points."""
    for node in ast.walk(ast.parse((REPO / "setup.py").read_text())):
        if isinstance(node, ast.keyword) and node.arg == "entry_points":
            specs = ast.literal_eval(node.value)["console_scripts"]
            return dict((x.strip() for x in spec.split("=")) for spec in specs)
    raise AssertionError("setup.py declares no entry_points")


def _entry(target: str):
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


def _help(call) -> str:
    """What ``call()`` prints for --help (it must exit with status 0)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        call()
    assert done.value.code == 0, out.getvalue()
    return out.getvalue()


def test_every_console_script_is_an_mslam_command_in_cli():
    scripts = _console_scripts()
    assert set(MODULE_COMMANDS.values()) | {"mslam-build-vocab", "mslam-build-graphemes",
                                            "mslam-validate-manifest"} == set(scripts)
    for name, target in scripts.items():
        assert name.startswith("mslam-") and target.startswith("mslam_plugin.cli."), name
        assert callable(_entry(target)), target


@pytest.mark.parametrize("name", sorted(_console_scripts()))
def test_console_script_answers_help(name, monkeypatch):
    monkeypatch.setattr(sys, "argv", [name])
    assert "usage: " + name in _help(lambda: _entry(_console_scripts()[name])(["--help"]))


@pytest.mark.parametrize("module", sorted(MODULE_COMMANDS))
def test_python_dash_m_runs_the_same_command(module, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["prog", "--help"])
    command = _help(lambda: _entry(_console_scripts()[MODULE_COMMANDS[module]])())
    with warnings.catch_warnings():  # runpy: the module is imported already (by the test)
        warnings.simplefilter("ignore", RuntimeWarning)
        assert _help(lambda: runpy.run_module(module, run_name="__main__")) == command


def test_installed_console_scripts_match_setup_py():
    from importlib.metadata import entry_points

    installed = {e.name: e.value for e in entry_points(group="console_scripts")
                 if e.name.startswith("mslam-")}
    if not installed:
        pytest.skip("the package is not installed (pip install -e .)")
    assert installed == _console_scripts(), "setup.py changed: rerun pip install -e ."


def test_library_modules_hold_no_argparse():
    offenders = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if rel.startswith("cli/") or rel in ARGPARSE_ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) else [])
            if "argparse" in names:
                offenders.append(rel)
    assert not offenders, f"argparse outside mslam_plugin/cli/: {offenders}"
