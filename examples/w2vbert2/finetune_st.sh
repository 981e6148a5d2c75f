#!/usr/bin/env bash
# CoVoST 2 X->En speech translation from w2v-BERT 2.0 through mSLAM: the encoder of CKPT
# (convert.sh output, or a checkpoint of pretrain.sh) + the paper's 6-layer decoder
# (examples/covost2/finetune.sh with --arch mslam_st_w2vbert2).
#
# usage: examples/w2vbert2/finetune_st.sh --data DIR --pretrained CKPT --char-vocab DICT
#          --exp DIR [--with-text] [-- extra fairseq-train flags]
# DIR: prepared by examples/covost2/prepare.sh. Its config_st.yaml normalises the stored
# filterbanks with utterance_cmvn; this script writes config_st_w2vbert2.yaml next to it
# with w2vbert2_cmvn instead (w2v-BERT 2.0's normalisation, odd last frame dropped) and
# trains with it. DICT: the dict.char.txt CKPT was converted with. Decode with
#   examples/covost2/decode.sh --data DIR --checkpoint EXP/checkpoint_best.pt --out OUT \
#     --config-yaml config_st_w2vbert2.yaml
set -euo pipefail

data= ; pretrained= ; chars= ; exp= ; extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --pretrained) pretrained=$2; shift 2 ;;
    --char-vocab) chars=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --with-text) extra+=(--with-text); shift ;;
    --) shift; break ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
if [ -z "$data" ] || [ -z "$pretrained" ] || [ -z "$chars" ] || [ -z "$exp" ]; then
  sed -n '2,13p' "$0"; exit 2
fi
if ! grep -q utterance_cmvn "$data/config_st.yaml"; then
  echo "$data/config_st.yaml: expected the utterance_cmvn transform to replace" >&2; exit 2
fi
sed 's/utterance_cmvn/w2vbert2_cmvn/' "$data/config_st.yaml" > "$data/config_st_w2vbert2.yaml"
bash examples/covost2/finetune.sh --data "$data" --pretrained "$pretrained" \
  --char-vocab "$chars" --exp "$exp" --arch mslam_st_w2vbert2 \
  --config-yaml config_st_w2vbert2.yaml "${extra[@]}" -- "$@"
