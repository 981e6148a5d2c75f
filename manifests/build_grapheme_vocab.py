#!/usr/bin/env python3
"""Build the grapheme vocabulary of transducer ASR from the training transcripts:
python manifests/build_grapheme_vocab.py --out dict.grapheme.txt paired_train.tsv [...]"""
from mslam_plugin.data.tools import main_build_graphemes

if __name__ == "__main__":
    main_build_graphemes()
