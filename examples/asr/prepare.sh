#!/usr/bin/env bash
# ASR data from a local copy of Multilingual LibriSpeech or VoxPopuli into paired
# manifests + grapheme vocabularies (see mslam_plugin/corpus/mls_voxpopuli.py).
#
# usage: examples/asr/prepare.sh mls --root DIR --langs german,french,... --out DIR [--limited 10h]
#        examples/asr/prepare.sh voxpopuli --root DIR --langs de,fr,... --out DIR
set -euo pipefail
python -m mslam_plugin.corpus.mls_voxpopuli "$@"
