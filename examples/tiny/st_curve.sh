#!/usr/bin/env bash
# ST learning curve on the offline corpus: fine-tune mslam_st_tiny for EPOCHS epochs
# (examples/tiny/finetune_st.sh's settings), keep the checkpoint of every epoch listed in
# --eval-epochs, and decode the test set from each (beam 5, BLEU and chrF per language),
# for the real model and for the blind control (--blind-encoder: the decoder sees zeros).
# The distance between the two curves is the evidence that translation uses the speech.
#
# usage: examples/tiny/st_curve.sh [--data DIR] [--exp DIR] [--pretrained CKPT|none]
#            [--epochs 10] [--eval-epochs "1 2 5 10"] [--variants "real blind"]
# Every stage is resumable: training continues from checkpoint_last.pt, finished
# decodes are skipped. Results: EXP/<variant>/decode/epoch<N>/scores-test_st-speech.json
# and EXP/curve.json (examples/tiny/curve_table.py).
set -euo pipefail
cd "$(dirname "$0")/../.."

data=data/tiny
exp=exp/tiny/st_curve
pretrained=none
epochs=10
eval_epochs="1 2 5 10"
variants="real blind"
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --pretrained) pretrained=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --eval-epochs) eval_epochs=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
log() { echo "$(date +%H:%M:%S) [st_curve] $*"; }

for variant in $variants; do
  extra=(--max-epoch "$epochs" --save-interval 1)
  [ "$variant" = blind ] && extra+=(--blind-encoder)
  dir="$exp/$variant"
  log "$variant: train $epochs epochs -> $dir"
  start=$SECONDS
  bash examples/tiny/finetune_st.sh --data "$data" --exp "$dir" --pretrained "$pretrained" \
    --max-update 100000 --epoch-checkpoints -- "${extra[@]}"
  log "$variant: trained in $((SECONDS - start)) s"
  for e in $eval_epochs; do
    out="$dir/decode/epoch$e"
    if [ -f "$out/scores-test_st-speech.json" ]; then continue; fi
    log "$variant: decode epoch $e"
    bash examples/covost2/decode.sh --data "$data" --checkpoint "$dir/checkpoint$e.pt" \
      --out "$out" -- --max-len-a 0.1 --max-len-b 20 | tail -1
  done
done
python examples/tiny/curve_table.py "$exp" $variants
