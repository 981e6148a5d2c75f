#!/usr/bin/env bash
# Decode a fine-tuned mslam_st checkpoint with fairseq-generate (beam 5, sacrebleu BLEU
# printed by fairseq), then score the detokenised hypotheses against the raw references
# with sacrebleu, BLEU and chrF per source language and overall.
#
# usage: examples/covost2/decode.sh --data DIR --checkpoint CKPT --out DIR
#          [--split test_st] [--config-yaml config_st.yaml] [--modality speech|text]
#          [--beam 5] [--max-tokens 50000] [-- extra fairseq-generate flags]
# --modality text translates the split's src_text column instead of its audio: zero-shot
# text translation by a model fine-tuned on speech only. Writes
# OUT/generate-SPLIT-MODALITY.txt and OUT/scores-SPLIT-MODALITY.json.
set -euo pipefail

data= ; ckpt= ; out=
split=test_st
config=config_st.yaml
modality=speech
beam=5
max_tokens=50000
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --checkpoint) ckpt=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --split) split=$2; shift 2 ;;
    --config-yaml) config=$2; shift 2 ;;
    --modality) modality=$2; shift 2 ;;
    --beam) beam=$2; shift 2 ;;
    --max-tokens) max_tokens=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
if [ -z "$data" ] || [ -z "$ckpt" ] || [ -z "$out" ]; then
  echo "usage: $0 --data DIR --checkpoint CKPT --out DIR [options]" >&2; exit 2
fi
mkdir -p "$out"
gen="$out/generate-$split-$modality.txt"
device=(--cpu)
if python -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then device=(); fi

fairseq-generate "$data" --user-dir mslam_plugin --task mslam_speech_translation \
  --config-yaml "$config" --gen-subset "$split" --source-modality "$modality" \
  --path "$ckpt" --beam "$beam" --max-tokens "$max_tokens" --scoring sacrebleu \
  "${device[@]}" "$@" > "$gen" 2> "$out/generate-$split-$modality.log" \
  || { tail -20 "$out/generate-$split-$modality.log" >&2; exit 1; }
grep -E "^Generate " "$gen" || true
python -m mslam_plugin.scoring st --generate-output "$gen" --manifest "$data/$split.tsv" \
  --json "$out/scores-$split-$modality.json"
