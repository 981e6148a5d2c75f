#!/usr/bin/env bash
# The tiny CPU recipe behind `make demo`: build the offline corpus, then run every stage
# of the pipeline on it, each real model beside a control that cannot use the speech.
#
# usage: examples/tiny/run.sh [--data DIR] [--exp DIR] [--pretrain-updates N]
# Stages: 1 corpus (examples/tiny/prepare.sh: German, French, Spanish, 1,000 training
# sentences each), 2 pre-training of mslam_tiny (examples/tiny/pretrain.sh, 250 updates;
# --pretrain-updates 750 takes 13 minutes more and gives the fine-tuning a better encoder),
# 3 multilingual transducer ASR fine-tuned from it for one epoch and decoded greedily
# (examples/tiny/finetune_asr.sh, mslam_plugin.decode_asr), 4 X->En speech translation
# fine-tuned from it for two epochs, and its blind control (the decoder sees zeros in
# place of the encoder output), each decoded from speech and zero-shot from text
# (examples/tiny/finetune_st.sh, examples/covost2/decode.sh), with the source CTC head's
# transcript (mslam_plugin.decode_ctc), 5 the results table, the targets and the dev
# curves (examples/tiny/results.py). The choices come from docs/learning_curves.md.
# A rerun resumes: finished corpus stages and finished training stages are skipped, an
# interrupted training continues from its last checkpoint, decoding runs again. A corpus
# or experiment directory made by other options or an earlier version is refused.
set -euo pipefail
cd "$(dirname "$0")/../.."

data=data/tiny
exp=exp/tiny
pre_updates=250
asr_updates=400   # one epoch of the default corpus
st_updates=520    # two epochs
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --pretrain-updates) pre_updates=$2; shift 2 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

log() { echo "$(date +%H:%M:%S) [demo] $*"; }
start=$SECONDS
log "stage 1: corpus -> $data"
bash examples/tiny/prepare.sh --data "$data"
log "stage 1 done at $((SECONDS - start)) s; corpus summary: $data/corpus_stats.json"

# a rerun resumes the models only when they were trained by this recipe on this corpus
recipe="demo-v2 pretrain-updates $pre_updates $(cat "$data/.options")"
if ls "$exp"/*/checkpoint_last.pt > /dev/null 2>&1 \
    && [ "$(cat "$exp/.recipe" 2>/dev/null)" != "$recipe" ]; then
  echo "error: $exp holds models of another corpus or an earlier recipe: remove it or" \
       "choose another --exp" >&2
  exit 2
fi
mkdir -p "$exp"
echo "$recipe" > "$exp/.recipe"

trained() { python examples/tiny/trained.py "$1/checkpoint_last.pt" "$2"; }
pretrained="$exp/pretrain/checkpoint_last.pt"
log "stage 2: pre-train mslam_tiny for $pre_updates updates -> $exp/pretrain (progress every 25)"
if trained "$exp/pretrain" "$pre_updates"; then log "stage 2: trained already, skipped"
else bash examples/tiny/pretrain.sh --data "$data" --exp "$exp/pretrain" \
  --max-update "$pre_updates"; fi
python examples/tiny/loss_table.py "$exp/pretrain/train.log"
log "stage 2 done at $((SECONDS - start)) s; checkpoint: $pretrained"

log "stage 3: transducer ASR (mslam_transducer_tiny), $asr_updates updates -> $exp/asr"
if trained "$exp/asr" "$asr_updates"; then log "stage 3: trained already, skipped"
else bash examples/tiny/finetune_asr.sh --data "$data" --exp "$exp/asr" \
  --pretrained "$pretrained" --max-update "$asr_updates"; fi
log "stage 3: greedy decode of paired_test"
python -m mslam_plugin.decode_asr --data "$data" --split paired_test --beam 1 \
  --checkpoint "$exp/asr/checkpoint_last.pt" --out "$exp/asr/decode" \
  2> "$exp/asr/decode-greedy.log" | tail -2
log "stage 3 done at $((SECONDS - start)) s"

for variant in real blind; do
  dir="$exp/st"; control=()
  if [ "$variant" = blind ]; then dir="$exp/st_blind"; control=(--blind); fi
  log "stage 4: speech translation X->En (mslam_st_tiny), $variant, $st_updates updates -> $dir"
  if trained "$dir" "$st_updates"; then log "stage 4: $variant trained already, skipped"
  else bash examples/tiny/finetune_st.sh --data "$data" --exp "$dir" \
    --pretrained "$pretrained" --max-update "$st_updates" "${control[@]}"; fi
  for modality in speech text; do  # text: zero-shot, the model never saw text input
    log "stage 4: $variant, decode test_st from $modality (beam 5)"
    bash examples/covost2/decode.sh --data "$data" --checkpoint "$dir/checkpoint_last.pt" \
      --out "$dir/decode" --modality "$modality" -- --max-len-a 0.1 --max-len-b 20 | tail -1
  done
done
log "stage 4: the source CTC head's greedy transcript of test_st"
python -m mslam_plugin.decode_ctc --data "$data" --split test_st \
  --checkpoint "$exp/st/checkpoint_last.pt" --out "$exp/st/decode" \
  2> "$exp/st/decode-ctc.log" | grep "| all"
log "stage 4 done at $((SECONDS - start)) s"

log "stage 5: results"
python examples/tiny/results.py "$exp"
log "finished in $((SECONDS - start)) s"
