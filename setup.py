"""mslam-plugin: mSLAM joint speech-text pre-training as a fairseq plugin."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="mslam-plugin",
    version="0.1.0",
    description="mSLAM: massively multilingual joint speech-text pre-training for fairseq",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["mslam_plugin", "mslam_plugin.*"]),
    install_requires=[
        "torch==2.9.1",
        "torchaudio==2.9.1",
        # Build it first with `pip install --no-build-isolation fairseq-fixed==0.12.3.1`
        # (the Makefile does): its C++ extensions compile against the installed torch.
        "fairseq-fixed==0.12.3.1",
        "sentencepiece",
        "soundfile",
        "sacrebleu",
        "jiwer",
    ],
    extras_require={"test": ["pytest", "safetensors", "transformers>=4.37,<5"],
                    "w2vbert2": ["safetensors"],
                    # only the offline tiny corpus builder (its text stage) needs it
                    "corpus": ["gflanguages"]},
    # the commands of mslam_plugin/cli/ (each also runs as `python -m`, see README.md)
    entry_points={"console_scripts": [
        "mslam-build-vocab = mslam_plugin.cli.manifests:main_build_vocab",
        "mslam-build-graphemes = mslam_plugin.cli.manifests:main_build_graphemes",
        "mslam-validate-manifest = mslam_plugin.cli.manifests:main_validate",
        "mslam-score = mslam_plugin.cli.score:main",
        "mslam-decode-asr = mslam_plugin.cli.decode:main_asr",
        "mslam-decode-ctc = mslam_plugin.cli.decode:main_ctc",
        "mslam-prepare-covost2 = mslam_plugin.cli.prepare:main_covost2",
        "mslam-prepare-asr = mslam_plugin.cli.prepare:main_mls_voxpopuli",
        "mslam-prepare-unlabeled-speech = mslam_plugin.cli.prepare:main_unlabeled_speech",
        "mslam-prepare-mc4 = mslam_plugin.cli.prepare:main_mc4",
        "mslam-prepare-tiny = mslam_plugin.cli.prepare:main_tiny",
        "mslam-prepare-mt-text = mslam_plugin.cli.prepare:main_mt_text",
        "mslam-convert-w2vbert2 = mslam_plugin.cli.convert:main_w2vbert2",
        "mslam-probe = mslam_plugin.cli.probe:main",
    ]},
)
