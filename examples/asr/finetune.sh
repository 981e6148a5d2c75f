#!/usr/bin/env bash
# Fine-tune a conformer transducer from mSLAM (mSLAM section 4.3): one multilingual model
# over every language of the data directory, or one model per language (--lang).
#
# usage: examples/asr/finetune.sh --data DIR --pretrained CKPT --exp DIR
#          [--lang LANG] [--arch mslam_transducer_base] [-- extra fairseq flags]
# The pre-trained encoder + a 2-layer, 640-unit LSTM prediction network + joint network,
# RNN-T loss, graphemes from the training transcripts (dict.grapheme.txt, or
# dict.grapheme.LANG.txt with --lang), no language model. Peak learning rates as in the
# paper: 3e-4 with 5k warm-up updates for the encoder, 1e-3 with 1.5k for the decoder.
# The paper's batch is 256 utterances: --max-tokens 40000 (frames) x 8 GPUs x
# --update-freq reaches about that for 10-15 s utterances.
set -euo pipefail

data= ; pretrained= ; exp= ; lang= ; arch=mslam_transducer_base
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --pretrained) pretrained=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --lang) lang=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
if [ -z "$data" ] || [ -z "$pretrained" ] || [ -z "$exp" ]; then
  echo "usage: $0 --data DIR --pretrained CKPT --exp DIR [--lang LANG] [options]" >&2; exit 2
fi
suffix=${lang:+_$lang}
vocab=dict.grapheme${lang:+.$lang}.txt
mkdir -p "$exp"
fairseq-train "$data" --user-dir mslam_plugin \
  --task mslam_asr --grapheme-vocab "$vocab" \
  --train-subset "paired_train$suffix" --valid-subset "paired_dev$suffix" \
  --arch "$arch" --load-pretrained-mslam-from "$pretrained" --criterion mslam_rnnt \
  --max-tokens 40000 --optimizer mslam_adam --adam-betas '(0.9, 0.98)' --clip-norm 10.0 \
  --lr-scheduler mslam_group_inverse_sqrt --encoder-lr 3e-4 --encoder-warmup-updates 5000 \
  --decoder-lr 1e-3 --decoder-warmup-updates 1500 --max-update 100000 \
  --save-interval-updates 2000 --keep-interval-updates 5 --no-epoch-checkpoints \
  --tensorboard-logdir "$exp/tensorboard" --save-dir "$exp" --num-workers 4 "$@" \
  2>&1 | tee -a "$exp/train.log"
