#!/usr/bin/env bash
# The representation probe (mslam-probe: a linear CTC head on each frozen depth, 100
# labelled utterances a language, CER on the test sentences) of every checkpoint a
# pre-training run kept, and the controls: the filterbanks and the random-weight twin of
# the run's architecture. Results: OUT/<run>_<updates>.json, OUT/fbank.json,
# OUT/random_<run>.json; a checkpoint already probed is skipped, so rerun it as the run grows.
#
# usage: examples/pretraining/probe_curve.sh --data DIR --out DIR [--layers 0,2,4]
#            [--every N] RUN_DIR...
# --every N probes only the checkpoints whose update count is a multiple of N (default 500).
# RUN_DIR: an experiment directory with snapshots/checkpoint_upd<N>.pt (mSLAM, kept by
# examples/pretraining/snapshot.sh) or checkpoint_<epoch>_<N>.pt (the wav2vec 2.0 anchor).
set -euo pipefail
cd "$(dirname "$0")/../.."
data=data/tiny
out=exp/ssl/probes
layers=()
every=500
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --layers) layers=(--layers "$2"); shift 2 ;;
    --every) every=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    --*) echo "unknown option: $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
mkdir -p "$out"
probe() { python -m mslam_plugin.cli.probe --data "$data" "$@" > /dev/null; }
[ -f "$out/fbank.json" ] || probe --fbank --out "$out/fbank.json"
for run in "$@"; do
  name=$(basename "$run")
  for ckpt in "$run"/snapshots/checkpoint_upd*.pt "$run"/checkpoint_*_*.pt; do
    [ -f "$ckpt" ] || continue
    n=$(basename "$ckpt" .pt | sed 's/.*[_d]\([0-9]*\)$/\1/')
    [ $((n % every)) -eq 0 ] || continue
    [ -f "$out/random_$name.json" ] || probe --checkpoint "$ckpt" --random-init --out "$out/random_$name.json"
    [ -f "$out/${name}_$n.json" ] && continue
    echo "$(date +%H:%M:%S) probing $ckpt"
    probe --checkpoint "$ckpt" "${layers[@]}" --out "$out/${name}_$n.json"
  done
done
