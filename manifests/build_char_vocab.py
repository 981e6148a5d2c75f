#!/usr/bin/env python3
"""Build the character vocabulary (the mslam-build-vocab command):
python manifests/build_char_vocab.py --out dict.char.txt text_train.tsv paired_train.tsv"""
import sys

from mslam_plugin.cli.manifests import main_build_vocab

if __name__ == "__main__":
    sys.exit(main_build_vocab())
