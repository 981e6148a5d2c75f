#!/usr/bin/env bash
# Pre-train mslam_tiny on the offline corpus (the pre-training stage of `make demo`).
#
# usage: examples/tiny/pretrain.sh [--data DIR] [--exp DIR] [--max-update N] [-- extra fairseq flags]
# The batch mixes speech-only : text-only : paired sequences 6 : 12 : 3 (the paper's
# 2048 : 8192 : 256 shifted toward paired data, which the tiny corpus has plenty of);
# dropout is off: a few hundred updates on 2 CPU cores do not overfit 4 h of speech. The
# learning rate peaks at 5e-4 after 250 warm-up updates (1e-3 after 50 collapsed the
# encoder output on the 8-language corpus; docs/learning_curves.md). The
# codebook-diversity weight is 1.0 (wav2vec 2.0: 0.1): at this learning rate and batch
# size 0.1 lets the 1024-entry codebook collapse onto a handful of codes. The Gumbel
# temperature decays 2 -> 0.5 (x0.995 per update) as the paper's schedule (x0.999995)
# does over ~280k updates. Rerunning the same command resumes from checkpoint_last.pt.
set -euo pipefail

data=data/tiny
exp=exp/tiny/pretrain
max_update=250
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --max-update) max_update=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$exp"

fairseq-train "$data" --user-dir mslam_plugin \
  --task mslam_pretraining --arch mslam_tiny --criterion mslam_pretraining \
  --train-subset train --valid-subset dev --batch-size 1 \
  --speech-sequences 6 --text-sequences 12 --paired-sequences 3 \
  --max-text-chars-per-batch 1024 --max-speech-frames-per-batch 8000 \
  --max-paired-frames-per-batch 4000 --batches-per-epoch 250 \
  --dropout 0.0 --attention-dropout 0.0 \
  --optimizer adam --adam-betas '(0.9, 0.98)' --adam-eps 1e-6 --weight-decay 0.01 \
  --lr 5e-4 --lr-scheduler inverse_sqrt --warmup-updates 250 --clip-norm 10.0 --w2v-diversity-weight 1.0 \
  --quantizer-temp '(2.0, 0.5, 0.995)' \
  --max-update "$max_update" --save-interval-updates 125 \
  --keep-interval-updates 1 --no-epoch-checkpoints --log-interval 25 --log-format simple \
  --tensorboard-logdir "$exp/tensorboard" --save-dir "$exp" \
  --cpu --num-workers 1 --seed 1 "$@" 2>&1 | tee -a "$exp/train.log" \
  | grep --line-buffered -E "train_inner|valid on|done training|Loaded checkpoint|Error|error"
