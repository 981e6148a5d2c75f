#!/usr/bin/env bash
# The tiny CPU recipe behind `make demo`: build the offline corpus, then run every stage
# of the pipeline on it.
#
# usage: examples/tiny/run.sh [--data DIR] [--exp DIR]
# Stages: 1 corpus (examples/tiny/prepare.sh), 2 pre-training of mslam_tiny
# (examples/tiny/pretrain.sh), 3 X->En speech translation fine-tuned from it, decoded from
# speech and zero-shot from text, scored (examples/tiny/finetune_st.sh,
# examples/covost2/decode.sh), 4 multilingual transducer ASR fine-tuned from it, decoded
# greedy and with beam 4, scored (examples/tiny/finetune_asr.sh, mslam_plugin.decode_asr),
# 5 the results table and training-curve plots (examples/tiny/results.py).
# A rerun resumes: finished corpus stages and finished training stages are skipped, an
# interrupted training continues from its last checkpoint, decoding runs again.
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

trained() { python examples/tiny/trained.py "$1/checkpoint_last.pt" "$2"; }
log "stage 2: pre-train mslam_tiny -> $exp/pretrain (progress every 25 updates)"
if trained "$exp/pretrain" 250; then log "stage 2: trained already, skipped"
else bash examples/tiny/pretrain.sh --data "$data" --exp "$exp/pretrain"; fi
python examples/tiny/loss_table.py "$exp/pretrain/train.log"
log "stage 2 done at $((SECONDS - start)) s; checkpoint: $exp/pretrain/checkpoint_last.pt"

log "stage 3: speech translation X->En (mslam_st_tiny) -> $exp/st"
if trained "$exp/st" 150; then log "stage 3: trained already, skipped"
else bash examples/tiny/finetune_st.sh --data "$data" --exp "$exp/st" \
  --pretrained "$exp/pretrain/checkpoint_last.pt"; fi
for modality in speech text; do  # text: zero-shot, the model never saw text input
  log "stage 3: decode test_st from $modality (beam 5)"
  bash examples/covost2/decode.sh --data "$data" --checkpoint "$exp/st/checkpoint_last.pt" \
    --out "$exp/st/decode" --modality "$modality" -- --max-len-a 0.1 --max-len-b 20
done
log "stage 3 done at $((SECONDS - start)) s"

log "stage 4: transducer ASR, all 8 languages (mslam_transducer_tiny) -> $exp/asr"
if trained "$exp/asr" 150; then log "stage 4: trained already, skipped"
else bash examples/tiny/finetune_asr.sh --data "$data" --exp "$exp/asr" \
  --pretrained "$exp/pretrain/checkpoint_last.pt"; fi
for beam in 1 4; do
  log "stage 4: decode paired_test, beam $beam (1 = greedy)"
  python -m mslam_plugin.decode_asr --data "$data" --split paired_test \
    --checkpoint "$exp/asr/checkpoint_last.pt" --out "$exp/asr/decode" --beam "$beam" \
    2> "$exp/asr/decode-beam$beam.log" | tail -2
done
log "stage 4 done at $((SECONDS - start)) s"

log "stage 5: results"
python examples/tiny/results.py "$exp"
log "finished in $((SECONDS - start)) s"
