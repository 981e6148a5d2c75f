#!/usr/bin/env bash
# The anchor: fairseq's own wav2vec 2.0 (Baevski et al., 2020), pre-trained on the same
# audio as mSLAM at a size matched to mslam_tiny (6 Transformer layers of 192 dims, FFN
# 768, 4 heads, a 7-layer 128-channel CNN on the waveform: 3,373,248 parameters against
# the 3,370,048 of mslam_tiny's speech path, front-end to quantizer and heads), with wav2vec
# 2.0 base's own objective and schedule shape: contrastive loss over 100 distractors,
# 2 x 320 Gumbel codes, diversity weight 0.1, L2 feature penalty 10, feature gradient x0.1,
# mask probability 0.65 over spans of 10 frames (20 ms), Adam (0.9, 0.98) at 5e-4 with
# warm-up, dropout 0.1. The batch holds about 30 s of audio, as mSLAM's tiny speech batch
# (6 utterances of ~5 s). Checkpoints every --save-every updates are all kept: the
# representation probe (examples/pretraining/probe_curve.sh) reads each of them.
# Rerunning the same command resumes from checkpoint_last.pt.
#
# usage: examples/anchor/pretrain_wav2vec2.sh [--data DIR] [--exp DIR] [--max-update N]
#            [--save-every N] [-- extra fairseq flags]
set -euo pipefail
cd "$(dirname "$0")/../.."

data=data/tiny
exp=exp/anchor/wav2vec2
max_update=4000
save_every=250
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --max-update) max_update=$2; shift 2 ;;
    --save-every) save_every=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$exp"
[ -f "$exp/manifest/train.tsv" ] || python examples/anchor/manifest.py --data "$data" --out "$exp/manifest"

fairseq-train "$exp/manifest" \
  --task audio_pretraining --sample-rate 16000 --max-sample-size 250000 --min-sample-size 16000 \
  --arch wav2vec2 --criterion wav2vec --infonce --log-keys '["prob_perplexity","code_perplexity","temp"]' \
  --loss-weights '[0.1, 10]' --quantize-targets --extractor-mode default \
  --conv-feature-layers '[(128, 10, 5)] + [(128, 3, 2)] * 4 + [(128, 2, 2)] * 2' \
  --encoder-layers 6 --encoder-embed-dim 192 --encoder-ffn-embed-dim 768 \
  --encoder-attention-heads 4 --final-dim 64 --latent-vars 320 --latent-groups 2 \
  --latent-temp '(2.0, 0.5, 0.9995)' --feature-grad-mult 0.1 --encoder-layerdrop 0.0 \
  --dropout 0.1 --attention-dropout 0.1 --dropout-input 0.1 --dropout-features 0.1 \
  --mask-prob 0.65 --mask-length 10 --num-negatives 100 --conv-pos 128 --conv-pos-groups 16 \
  --optimizer adam --adam-betas '(0.9, 0.98)' --adam-eps 1e-6 --weight-decay 0.01 \
  --lr 5e-4 --lr-scheduler polynomial_decay --warmup-updates 500 --total-num-update 20000 \
  --max-tokens 480000 --max-update "$max_update" --skip-invalid-size-inputs-valid-test \
  --save-interval-updates "$save_every" --keep-interval-updates -1 --no-epoch-checkpoints \
  --validate-interval-updates "$save_every" --log-interval 25 --log-format simple \
  --save-dir "$exp" --cpu --num-workers 0 --seed 1 "$@" 2>&1 | tee -a "$exp/train.log" \
  | grep --line-buffered -E "train_inner|valid on|done training|Loaded checkpoint|Error|error"
