#!/usr/bin/env bash
# Fine-tune mslam_st_tiny for X->En speech translation on the offline corpus (a stage of
# `make demo`; also run by examples/tiny/compare.sh and learning_curve.sh).
#
# usage: examples/tiny/finetune_st.sh [--data DIR] [--exp DIR] [--pretrained CKPT|none]
#                                     [--with-text] [--ctc-weight W] [--blind]
#                                     [--max-update N] [--epoch-checkpoints]
#                                     [-- extra fairseq flags]
# --pretrained none trains the same model from random initialisation; --with-text adds the
# MT data (mt_train.tsv): every batch pairs its ST examples with as many MT examples, MT
# loss weight 5.0, decoder dropout 0.1 (the paper's speech + text fine-tuning).
# --ctc-weight W (default 0.5) adds a CTC loss on the source transcript (ESPnet ST;
# fairseq's label_smoothed_cross_entropy_with_ctc); 0 is the paper's recipe. Without it
# the encoder output collapses to one vector while the fresh decoder is still a language
# model (docs/learning_curves.md). --blind is the control: the decoder sees zeros in place
# of the encoder output (--blind-encoder), no CTC loss, and the encoder is not run.
# The decoder dropout is 0.1, not the paper's 0.3: a few epochs on 2 CPU cores do not
# overfit. Encoder and decoder get their own peak learning rate; the encoder is frozen
# for the first 100 updates while the fresh decoder learns to read it. Rerunning the
# same command resumes from checkpoint_last.pt.
set -euo pipefail

data=data/tiny
exp=exp/tiny/st
pretrained=exp/tiny/pretrain/checkpoint_last.pt
max_update=520
ctc_weight=0.5
blind=0
keep_epochs=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --pretrained) pretrained=$2; shift 2 ;;
    --with-text) extra+=(--mt-subset mt_train); shift ;;
    --ctc-weight) ctc_weight=$2; shift 2 ;;
    --blind) blind=1; shift ;;
    --max-update) max_update=$2; shift 2 ;;
    --epoch-checkpoints) keep_epochs=1; shift ;;
    --) shift; break ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
if [ "$pretrained" != none ]; then
  extra+=(--load-pretrained-mslam-from "$pretrained")
fi
if [ "$keep_epochs" = 0 ]; then extra+=(--no-epoch-checkpoints); fi
if [ "$blind" = 1 ]; then
  extra+=(--blind-encoder --criterion label_smoothed_cross_entropy)
elif awk "BEGIN { exit !($ctc_weight > 0) }"; then
  extra+=(--criterion label_smoothed_cross_entropy_with_ctc --ctc-weight "$ctc_weight")
else
  extra+=(--criterion label_smoothed_cross_entropy)
fi
mkdir -p "$exp"

fairseq-train "$data" --user-dir mslam_plugin \
  --task mslam_speech_translation --config-yaml config_st.yaml \
  --train-subset train_st --valid-subset dev_st --arch mslam_st_tiny "${extra[@]}" \
  --label-smoothing 0.1 --report-accuracy \
  --max-tokens 6000 --optimizer mslam_adam --adam-betas '(0.9, 0.98)' \
  --lr-scheduler mslam_group_inverse_sqrt --encoder-lr 5e-4 --encoder-freeze-updates 100 \
  --encoder-warmup-updates 100 \
  --decoder-lr 2e-3 --decoder-warmup-updates 20 --decoder-dropout 0.1 --clip-norm 10.0 \
  --max-update "$max_update" --validate-interval-updates 130 --save-interval-updates 130 \
  --keep-interval-updates 1 --log-interval 25 --log-format simple \
  --tensorboard-logdir "$exp/tensorboard" --save-dir "$exp" \
  --cpu --num-workers 1 --seed 1 "$@" 2>&1 | tee -a "$exp/train.log" \
  | grep --line-buffered -E "train_inner|valid on|done training|Loaded checkpoint|Error|error"
