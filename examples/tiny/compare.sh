#!/usr/bin/env bash
# The comparisons behind docs/results.md, on the offline corpus, after `make demo`
# (which trained the mSLAM-initialised models into EXP/st and EXP/asr):
#   ST from mSLAM vs from random initialisation (same updates), speech + text
#   fine-tuning vs speech only, zero-shot text translation; ASR from mSLAM vs random.
#
# usage: examples/tiny/compare.sh [--data DIR] [--exp DIR]   (about 30 minutes on 2 cores)
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
for need in "$exp/st/checkpoint_last.pt" "$exp/asr/checkpoint_last.pt"; do
  [ -f "$need" ] || { echo "$need missing: run make demo first" >&2; exit 1; }
done
log() { echo "$(date +%H:%M:%S) [compare] $*"; }
decode_st() {  # checkpoint dir, modalities
  local dir=$1; shift
  for modality in "$@"; do
    bash examples/covost2/decode.sh --data "$data" --checkpoint "$dir/checkpoint_last.pt" \
      --out "$dir/decode" --modality "$modality" -- --max-len-a 0.1 --max-len-b 20 | tail -1
  done
}
log "ST from random initialisation"
bash examples/tiny/finetune_st.sh --data "$data" --exp "$exp/st_random" --pretrained none
decode_st "$exp/st_random" speech text
log "ST, speech + text fine-tuning from mSLAM"
bash examples/tiny/finetune_st.sh --data "$data" --exp "$exp/st_text" \
  --pretrained "$exp/pretrain/checkpoint_last.pt" --with-text
decode_st "$exp/st_text" speech text
log "ASR from random initialisation"
bash examples/tiny/finetune_asr.sh --data "$data" --exp "$exp/asr_random" --pretrained none
for dir in "$exp/asr_random" "$exp/asr"; do  # the demo decoded its model greedily only
  for beam in 1 4; do
    python -m mslam_plugin.decode_asr --data "$data" --split paired_test --beam "$beam" \
      --checkpoint "$dir/checkpoint_last.pt" --out "$dir/decode" 2> /dev/null | tail -1
  done
done
python examples/tiny/compare.py "$exp"
