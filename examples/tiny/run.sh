#!/usr/bin/env bash
# The tiny CPU recipe behind `make demo`: build the offline corpus, then run every stage
# of the pipeline on it. Later stages (fine-tuning, decoding, scoring) join here.
#
# usage: examples/tiny/run.sh [--data DIR] [--exp DIR]
# Stages: 1 corpus (examples/tiny/prepare.sh), 2 pre-training of mslam_tiny
# (examples/tiny/pretrain.sh). A rerun resumes: finished corpus stages are skipped and
# pre-training continues from its last checkpoint (or stops at once if it is done).
set -euo pipefail
cd "$(dirname "$0")/../.."

data=data/tiny
exp=exp/tiny
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

log() { echo "$(date +%H:%M:%S) [demo] $*"; }
start=$SECONDS
log "stage 1: corpus -> $data"
bash examples/tiny/prepare.sh --data "$data"
log "stage 1 done at $((SECONDS - start)) s; corpus summary: $data/corpus_stats.json"

log "stage 2: pre-train mslam_tiny -> $exp/pretrain (progress every 25 updates)"
bash examples/tiny/pretrain.sh --data "$data" --exp "$exp/pretrain"
python examples/tiny/loss_table.py "$exp/pretrain/train.log"
log "stage 2 done at $((SECONDS - start)) s; checkpoint: $exp/pretrain/checkpoint_last.pt"

log "finished in $((SECONDS - start)) s"
