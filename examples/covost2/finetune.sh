#!/usr/bin/env bash
# Fine-tune mSLAM for CoVoST 2 X->En speech translation (mSLAM section 4.1).
#
# usage: examples/covost2/finetune.sh --data DIR --pretrained CKPT --char-vocab DICT
#          --exp DIR [--arch mslam_st_base] [--config-yaml config_st.yaml] [--with-text]
#          [-- extra fairseq flags]
# The pre-trained encoder + a 6-layer, 512-dim Transformer decoder, dropout 0.3 on the
# decoder's input embedding and residuals. --with-text adds the MT TSV (mt_train.tsv):
# every batch pairs its ST examples with as many MT examples, MT loss weight 5.0,
# dropout 0.1. DICT is the character vocabulary of the pre-training (dict.char.txt).
# The optimiser settings are ours (the paper does not give them): Adam, encoder peak
# 1e-4, decoder peak 1e-3, warm-up 5k / 2k updates, inverse square-root decay; batches of
# up to 40k filterbank frames per GPU. fairseq's distributed training applies as usual
# (--distributed-world-size, torchrun); add --fp16/--bf16 with --fp16-no-flatten-grads so
# the encoder and decoder keep their own learning rates.
set -euo pipefail

data= ; pretrained= ; chars= ; exp= ; arch=mslam_st_base ; config=config_st.yaml
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --pretrained) pretrained=$2; shift 2 ;;
    --char-vocab) chars=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --config-yaml) config=$2; shift 2 ;;
    --with-text) extra+=(--mt-subset mt_train); shift ;;
    --) shift; break ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
if [ -z "$data" ] || [ -z "$pretrained" ] || [ -z "$chars" ] || [ -z "$exp" ]; then
  echo "usage: $0 --data DIR --pretrained CKPT --char-vocab DICT --exp DIR [options]" >&2; exit 2
fi
mkdir -p "$exp"
fairseq-train "$data" --user-dir mslam_plugin \
  --task mslam_speech_translation --config-yaml "$config" --char-vocab "$chars" \
  --train-subset train_st --valid-subset dev_st --arch "$arch" \
  --load-pretrained-mslam-from "$pretrained" "${extra[@]}" \
  --criterion label_smoothed_cross_entropy --label-smoothing 0.1 --report-accuracy \
  --max-tokens 40000 --optimizer mslam_adam --adam-betas '(0.9, 0.98)' --clip-norm 10.0 \
  --lr-scheduler mslam_group_inverse_sqrt --encoder-lr 1e-4 --encoder-warmup-updates 5000 \
  --decoder-lr 1e-3 --decoder-warmup-updates 2000 --max-update 100000 \
  --save-interval-updates 2000 --keep-interval-updates 5 --no-epoch-checkpoints \
  --tensorboard-logdir "$exp/tensorboard" --save-dir "$exp" --num-workers 4 "$@" \
  2>&1 | tee -a "$exp/train.log"
