#!/usr/bin/env python3
"""Build the character vocabulary:
python manifests/build_char_vocab.py --out dict.char.txt text_train.tsv paired_train.tsv"""
from mslam_plugin.data.tools import main_build_vocab

if __name__ == "__main__":
    main_build_vocab()
