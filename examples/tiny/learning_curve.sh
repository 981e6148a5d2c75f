#!/usr/bin/env bash
# Learning curve of a fine-tuning recipe on the offline corpus: train for EPOCHS epochs
# (examples/tiny/finetune_st.sh or finetune_asr.sh), keep the checkpoint of every epoch
# listed in --eval-epochs, and score the test split from each: ST beam 5, BLEU and chrF
# per language (examples/covost2/decode.sh), and with the source CTC loss the greedy CTC
# transcript's CER (python -m mslam_plugin.decode_ctc); ASR greedy, WER and CER
# (python -m mslam_plugin.decode_asr --beam 1). Each variant is one run: "real", and the
# control "blind" (the fine-tuning script's --blind: the decoder or joint network sees
# zeros in place of the encoder output). The distance between the two is the evidence that the model uses
# the speech.
# --task mt trains the same ST model on text alone (--source-modality text: the source
# sentence in place of its speech; --mt-subset, default mt_train, validated on mt_dev)
# and scores its translation of test_st's source text: what the ST decoder can learn
# from the corpus's sentences when the speech is read perfectly, the ceiling of ST.
#
# usage: examples/tiny/learning_curve.sh --task st|asr|mt [--data DIR] [--exp DIR]
#            [--pretrained CKPT|none] [--epochs 10] [--eval-epochs "1 2 5 10"]
#            [--variants "real blind"] [--ctc-weight W] [--mt-subset NAME]
#            [-- FAIRSEQ-TRAIN OPTIONS]   (given to every variant)
# --ctc-weight goes to the fine-tuning script (its default: ST 0.5, ASR 0.3; 0 = the
# paper's recipe); the blind ST control trains without it (nothing reads its encoder).
# Every stage is resumable: training continues from checkpoint_last.pt, finished decodes
# are skipped. Results: EXP/<variant>/decode/epoch<N>/scores-*.json, and EXP/curve.json,
# EXP/curve.png (examples/tiny/curve_table.py).
set -euo pipefail
cd "$(dirname "$0")/../.."

task=
data=data/tiny
exp=
pretrained=none
epochs=10
eval_epochs="1 2 5 10"
variants="real blind"
ctc=()
mt_subset=mt_train
while [ $# -gt 0 ]; do
  case "$1" in
    --task) task=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --pretrained) pretrained=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --eval-epochs) eval_epochs=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    --ctc-weight) ctc=(--ctc-weight "$2"); shift 2 ;;
    --mt-subset) mt_subset=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
recipe=$task
modality=speech
source=()
case "$task" in
  st) scores=scores-test_st-speech.json ;;
  asr) scores=scores-paired_test-greedy.json ;;
  mt) scores=scores-test_st-text.json recipe=st modality=text ctc=(--ctc-weight 0)
      source=(--source-modality text --train-subset "$mt_subset" --valid-subset mt_dev) ;;
  *) echo "--task st|asr|mt is required" >&2; exit 2 ;;
esac
exp=${exp:-exp/tiny/${task}_curve}
log() { echo "$(date +%H:%M:%S) [${task}_curve] $*"; }

for variant in $variants; do
  control=()
  [ "$variant" = blind ] && control=(--blind)
  dir="$exp/$variant"
  log "$variant: train $epochs epochs -> $dir"
  start=$SECONDS
  bash "examples/tiny/finetune_$recipe.sh" --data "$data" --exp "$dir" --pretrained "$pretrained" \
    "${ctc[@]}" "${control[@]}" --max-update 100000 --epoch-checkpoints -- \
    --max-epoch "$epochs" --save-interval 1 "${source[@]}" "$@"
  log "$variant: trained in $((SECONDS - start)) s"
  for e in $eval_epochs; do
    out="$dir/decode/epoch$e"
    if [ -f "$out/$scores" ]; then continue; fi
    log "$variant: decode epoch $e"
    mkdir -p "$out"
    if [ "$recipe" = st ]; then
      bash examples/covost2/decode.sh --data "$data" --checkpoint "$dir/checkpoint$e.pt" \
        --out "$out" --modality "$modality" -- --max-len-a 0.1 --max-len-b 20 | tail -1
      if [ "$task" = st ] && [ "$variant" != blind ]; then
        python -m mslam_plugin.decode_ctc --data "$data" --split test_st \
          --checkpoint "$dir/checkpoint$e.pt" --out "$out" 2> "$out/ctc.log" | grep "| all" \
          || log "$variant: no source CTC transcript ($out/ctc.log)"
      fi
    else
      python -m mslam_plugin.decode_asr --data "$data" --split paired_test --beam 1 \
        --checkpoint "$dir/checkpoint$e.pt" --out "$out" 2> "$out/decode.log" | tail -1
    fi
  done
done
python examples/tiny/curve_table.py "$exp" $variants
