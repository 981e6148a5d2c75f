#!/usr/bin/env bash
# Fine-tune mslam_transducer_tiny for multilingual ASR on the offline corpus (a stage of
# `make demo`; also run by examples/tiny/compare.sh and learning_curve.sh).
#
# usage: examples/tiny/finetune_asr.sh [--data DIR] [--exp DIR] [--pretrained CKPT|none]
#                                      [--ctc-weight W] [--blind] [--max-update N]
#                                      [--epoch-checkpoints] [-- extra fairseq flags]
# One model over all the corpus's languages, graphemes merged from paired_train.tsv (built
# here if the corpus lacks dict.grapheme.txt). --ctc-weight W (default 0.3) adds a CTC
# loss on the encoder output (icefall, ESPnet); 0 is the paper's recipe. --blind is the
# control: the joint network sees zeros in place of the encoder output, no CTC loss (it
# would read the same zeros), and the encoder is not run. Encoder and
# decoder get their own peak learning rate and warm-up (the paper: 3e-4 / 5k and
# 1e-3 / 1.5k updates; scaled here to a run of a few hundred updates); the encoder is
# frozen for the first 100 updates while the fresh prediction and joint networks learn
# to read it (docs/learning_curves.md). Rerunning the same command resumes from
# checkpoint_last.pt.
set -euo pipefail

data=data/tiny
exp=exp/tiny/asr
pretrained=exp/tiny/pretrain/checkpoint_last.pt
max_update=400
ctc_weight=0.3
blind=0
keep_epochs=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --pretrained) pretrained=$2; shift 2 ;;
    --max-update) max_update=$2; shift 2 ;;
    --ctc-weight) ctc_weight=$2; shift 2 ;;
    --blind) blind=1; shift ;;
    --epoch-checkpoints) keep_epochs=1; shift ;;
    --) shift; break ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
if [ "$pretrained" != none ]; then
  extra+=(--load-pretrained-mslam-from "$pretrained")
else
  extra+=(--text-vocab-size "$(($(wc -l < "$data/dict.char.txt") + 4))")
fi
if [ "$keep_epochs" = 0 ]; then extra+=(--no-epoch-checkpoints); fi
if [ "$blind" = 1 ]; then extra+=(--blind-encoder); ctc_weight=0; fi
if [ ! -f "$data/dict.grapheme.txt" ]; then
  python manifests/build_grapheme_vocab.py --out "$data/dict.grapheme.txt" "$data/paired_train.tsv"
fi
mkdir -p "$exp"

fairseq-train "$data" --user-dir mslam_plugin \
  --task mslam_asr --train-subset paired_train --valid-subset paired_dev \
  --arch mslam_transducer_tiny "${extra[@]}" --criterion mslam_rnnt --ctc-weight "$ctc_weight" \
  --max-tokens 4000 --optimizer mslam_adam --adam-betas '(0.9, 0.98)' \
  --lr-scheduler mslam_group_inverse_sqrt --encoder-lr 5e-4 --encoder-freeze-updates 100 \
  --encoder-warmup-updates 100 \
  --decoder-lr 2e-3 --decoder-warmup-updates 15 --clip-norm 10.0 \
  --max-update "$max_update" --validate-interval-updates 200 --save-interval-updates 200 \
  --keep-interval-updates 1 --log-interval 25 --log-format simple \
  --tensorboard-logdir "$exp/tensorboard" --save-dir "$exp" \
  --cpu --num-workers 1 --seed 1 "$@" 2>&1 | tee -a "$exp/train.log" \
  | grep --line-buffered -E "train_inner|valid on|done training|Loaded checkpoint|Error|error"
