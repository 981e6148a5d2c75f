#!/usr/bin/env bash
# The tiny CPU recipe behind `make demo`: build the offline corpus, then run every stage
# of the pipeline on it. Later stages (pre-training, fine-tuning, decoding) join here.
#
# usage: examples/tiny/run.sh [--data DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

data=data/tiny
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

log() { echo "$(date +%H:%M:%S) [demo] $*"; }
start=$SECONDS
log "corpus -> $data"
bash examples/tiny/prepare.sh --data "$data"
log "finished in $((SECONDS - start)) s; corpus summary: $data/corpus_stats.json"
