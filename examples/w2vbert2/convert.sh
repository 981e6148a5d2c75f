#!/usr/bin/env bash
# Start mSLAM from the public w2v-BERT 2.0 encoder: convert it into a fairseq checkpoint
# of mslam_w2vbert2 (python -m mslam_plugin.convert_w2vbert2).
#
# usage: examples/w2vbert2/convert.sh --hf-dir DIR --data DIR [--out CKPT]
#          [--speech-layers 8] [--seed 1]
# --hf-dir: a local copy of facebook/w2v-bert-2.0 (nothing is downloaded here), e.g.
#   huggingface-cli download facebook/w2v-bert-2.0 config.json model.safetensors \
#     --local-dir w2v-bert-2.0
# --data: the pre-training directory (manifests/README.md). Its dict.char.txt sizes the
# text embedding and the text / CTC heads; it is built from the text and paired
# manifests when missing (stages 1-2 of examples/pretrain/run.sh), so it must exist
# before the conversion and stay the same afterwards.
# Conformer layers 0-7 become the speech encoder, 8-23 the multimodal encoder;
# masked_spec_embed the mask embedding; the text embedding, the quantizer and the heads
# start fresh (seeded). Writes CKPT (exp/w2vbert2/mslam_w2vbert2.pt); a rerun keeps it.
set -euo pipefail

hf= ; data= ; out=exp/w2vbert2/mslam_w2vbert2.pt ; layers=8 ; seed=1
while [ $# -gt 0 ]; do
  case "$1" in
    --hf-dir) hf=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --speech-layers) layers=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
[ -n "$hf" ] && [ -n "$data" ] || { sed -n '2,16p' "$0"; exit 2; }
log() { echo "$(date +%H:%M:%S) [w2vbert2] $*"; }

if [ ! -f "$data/dict.char.txt" ]; then
  log "character vocabulary of $data"
  bash examples/pretrain/run.sh --data "$data" --stage 1 --stop-stage 2
fi
if [ -f "$out" ]; then
  log "$out exists: kept"
else
  log "convert $hf -> $out"
  python -m mslam_plugin.convert_w2vbert2 --hf-dir "$hf" --char-vocab "$data/dict.char.txt" \
    --out "$out" --speech-layers "$layers" --seed "$seed"
fi
