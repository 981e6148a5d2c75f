#!/usr/bin/env bash
# Build the offline multilingual corpus: GNOME help (X, English) units, espeak-ng speech,
# gflanguages text, manifests and the character vocabulary.
#
# usage: examples/tiny/prepare.sh [--data DIR] [--stage N] [--stop-stage N]
#                                 [--langs de,fr,...|all] [--train-units N] [--seed N]
#                                 [--bilingual]
# Stages (each leaves DIR/.done.<stage>; a rerun skips finished stages):
#   1 units  2 synth  3 text  4 manifests  5 vocab  6 report
set -euo pipefail

data=data/tiny
stage=1
stop_stage=6
extra=()
content=()  # the options that change what is built
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --langs|--train-units|--dev-units|--test-units|--seed|--variants|--vocab-size)
      extra+=("$1" "$2"); content+=("$1" "$2"); shift 2 ;;
    --bilingual) extra+=("$1"); content+=("$1"); shift ;;
    --workers) extra+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

log() { echo "$(date +%H:%M:%S) [prepare] $*"; }
mkdir -p "$data"
# a rerun resumes a corpus only when it was built with the same options (and version)
options="corpus-v2 ${content[*]}"
if ls "$data"/.done.* > /dev/null 2>&1 && [ "$(cat "$data/.options" 2>/dev/null)" != "$options" ]; then
  echo "error: $data was built with other options or by an earlier version" \
       "(${data}/.options: '$(cat "$data/.options" 2>/dev/null)', now: '$options');" \
       "remove it or choose another --data" >&2
  exit 2
fi
echo "$options" > "$data/.options"

run_stage() {
  local n=$1 name=$2
  if [ "$n" -lt "$stage" ] || [ "$n" -gt "$stop_stage" ]; then return 0; fi
  if [ -f "$data/.done.$name" ]; then
    log "stage $n ($name): done already, skipped (remove $data/.done.$name to redo)"
    return 0
  fi
  log "stage $n ($name)"
  local start=$SECONDS
  python -m mslam_plugin.corpus.tiny.prepare "$name" --out "$data" "${extra[@]}"
  touch "$data/.done.$name"
  log "stage $n ($name) finished in $((SECONDS - start)) s"
}

run_stage 1 units
run_stage 2 synth
run_stage 3 text
run_stage 4 manifests
run_stage 5 vocab
run_stage 6 report
