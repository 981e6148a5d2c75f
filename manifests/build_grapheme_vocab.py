#!/usr/bin/env python3
"""Build the grapheme vocabulary of transducer ASR from the training transcripts (the
mslam-build-graphemes command):
python manifests/build_grapheme_vocab.py --out dict.grapheme.txt paired_train.tsv [...]"""
import sys

from mslam_plugin.cli.manifests import main_build_graphemes

if __name__ == "__main__":
    sys.exit(main_build_graphemes())
