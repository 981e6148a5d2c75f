#!/usr/bin/env bash
# Decode a transducer checkpoint (greedy and beam search) and score WER / CER per language
# and overall with jiwer (mslam_plugin/decode_asr.py; no language model).
#
# usage: examples/asr/decode.sh --data DIR --checkpoint CKPT --out DIR
#          [--split paired_test] [--beams "1 4"] [--device cpu|cuda]
set -euo pipefail

data= ; ckpt= ; out= ; split=paired_test ; beams="1 4" ; device=cpu
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --checkpoint) ckpt=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --split) split=$2; shift 2 ;;
    --beams) beams=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
if [ -z "$data" ] || [ -z "$ckpt" ] || [ -z "$out" ]; then
  echo "usage: $0 --data DIR --checkpoint CKPT --out DIR [options]" >&2; exit 2
fi
for beam in $beams; do
  python -m mslam_plugin.decode_asr --data "$data" --split "$split" --checkpoint "$ckpt" \
    --out "$out" --beam "$beam" --device "$device"
done
