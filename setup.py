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
        "gflanguages",
    ],
    extras_require={"test": ["pytest", "safetensors", "transformers>=4.37,<5"],
                    "w2vbert2": ["safetensors"]},
)
