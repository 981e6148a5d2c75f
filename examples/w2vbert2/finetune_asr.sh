#!/usr/bin/env bash
# MLS / VoxPopuli ASR from w2v-BERT 2.0 through mSLAM: the encoder of CKPT (convert.sh
# output, or a checkpoint of pretrain.sh) as the transducer's transcription network
# (examples/asr/finetune.sh with --arch mslam_transducer_w2vbert2).
#
# usage: examples/w2vbert2/finetune_asr.sh --data DIR --pretrained CKPT --exp DIR
#          [--lang LANG] [-- extra fairseq-train flags]
# DIR: prepared by examples/asr/prepare.sh (mls or voxpopuli). Speech is read as w2v-BERT
# 2.0's own features (--speech-features w2vbert2, recorded in the checkpoints, so
# examples/asr/decode.sh decodes with them unchanged). One multilingual model, or one per
# language with --lang.
set -euo pipefail

data= ; pretrained= ; exp= ; lang=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --pretrained) pretrained=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --lang) lang=(--lang "$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
if [ -z "$data" ] || [ -z "$pretrained" ] || [ -z "$exp" ]; then
  sed -n '2,11p' "$0"; exit 2
fi
bash examples/asr/finetune.sh --data "$data" --pretrained "$pretrained" --exp "$exp" \
  --arch mslam_transducer_w2vbert2 "${lang[@]}" -- --speech-features w2vbert2 "$@"
