#!/usr/bin/env bash
# Fine-tune mslam_st_tiny for X->En speech translation on the offline corpus (a stage of
# `make demo`; also run by examples/tiny/compare.sh for the baselines).
#
# usage: examples/tiny/finetune_st.sh [--data DIR] [--exp DIR] [--pretrained CKPT|none]
#                                     [--with-text] [--max-update N] [--epoch-checkpoints]
#                                     [-- extra fairseq flags]
# --pretrained none trains the same model from random initialisation; --with-text adds the
# MT data (mt_train.tsv): every batch pairs its ST examples with as many MT examples, MT
# loss weight 5.0, decoder dropout 0.1 (the paper's speech + text fine-tuning).
# The decoder dropout is 0.1, not the paper's 0.3: 150 updates on 2 CPU cores do not
# overfit 1,600 utterances. Encoder and decoder get their own peak learning rate.
# The encoder is frozen for the first 50 updates while the fresh decoder learns to read it:
# without that the decoder's language-model phase collapses the encoder output to one
# vector (docs/learning_curves.md). Rerunning the same command resumes from
# checkpoint_last.pt.
set -euo pipefail

data=data/tiny
exp=exp/tiny/st
pretrained=exp/tiny/pretrain/checkpoint_last.pt
max_update=150
keep_epochs=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --pretrained) pretrained=$2; shift 2 ;;
    --with-text) extra+=(--mt-subset mt_train); shift ;;
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
mkdir -p "$exp"

fairseq-train "$data" --user-dir mslam_plugin \
  --task mslam_speech_translation --config-yaml config_st.yaml \
  --train-subset train_st --valid-subset dev_st --arch mslam_st_tiny "${extra[@]}" \
  --criterion label_smoothed_cross_entropy --label-smoothing 0.1 --report-accuracy \
  --max-tokens 6000 --optimizer mslam_adam --adam-betas '(0.9, 0.98)' \
  --lr-scheduler mslam_group_inverse_sqrt --encoder-lr 5e-4 --encoder-freeze-updates 50 \
  --encoder-warmup-updates 40 \
  --decoder-lr 2e-3 --decoder-warmup-updates 20 --decoder-dropout 0.1 --clip-norm 10.0 \
  --max-update "$max_update" --validate-interval-updates 75 --save-interval-updates 75 \
  --keep-interval-updates 1 --log-interval 25 --log-format simple \
  --tensorboard-logdir "$exp/tensorboard" --save-dir "$exp" \
  --cpu --num-workers 1 --seed 1 "$@" 2>&1 | tee -a "$exp/train.log" \
  | grep --line-buffered -E "train_inner|valid on|done training|Loaded checkpoint|Error|error"
