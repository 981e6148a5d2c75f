#!/usr/bin/env bash
# Pre-train mslam_base (0.6B) or mslam_large (2B) on real corpora with the paper's
# hyper-parameters (mSLAM section 3.3). GPU only.
#
# usage: examples/pretrain/run.sh --data DIR [--arch mslam_base|mslam_large] [--exp DIR]
#                                 [--stage N] [--stop-stage N] [--lr LR]
#                                 [--warmup-updates N] [--max-update N]
#                                 [-- extra fairseq-train flags]
# DIR holds speech_{train,dev}.tsv (unlabeled speech), text_{train,dev}.tsv (unlabeled
# text), paired_{train,dev}.tsv (speech + transcript) and dict.char.txt, in the formats of
# manifests/README.md. Stages:
#   1  validate the manifests (bad rows reported as FILE:LINE)
#   2  build dict.char.txt from the text and paired manifests if it is missing
#   3  pre-train (rerunning resumes from checkpoint_last.pt)
#
# The paper's batch is 2048 speech + 8192 text + 256 paired sequences per step. One
# process here takes 16 : 64 : 2 sequences; with 8 GPUs x 8 nodes and --update-freq 2
# that is 2048 : 8192 : 256. Multi-node: pass fairseq's distributed flags after --,
#   e.g. -- --distributed-world-size 64 --distributed-port 12345 under SLURM,
#   or launch it under torchrun / srun (see README.md).
# mslam_large adds --checkpoint-activations and the paper's peak lr 3.6e-4. --lr,
# --warmup-updates and --max-update replace the paper's schedule (6e-4, 40k, 1.3M), e.g.
# for continued pre-training (examples/w2vbert2/pretrain.sh).
set -euo pipefail

data=
arch=mslam_base
exp=
stage=1
stop_stage=3
lr= ; warmup=40000 ; max_update=1300000
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --lr) lr=$2; shift 2 ;;
    --warmup-updates) warmup=$2; shift 2 ;;
    --max-update) max_update=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
[ -n "$data" ] || { sed -n '2,14p' "$0"; exit 2; }
exp=${exp:-exp/pretrain_$arch}
log() { echo "$(date +%H:%M:%S) [pretrain] $*"; }

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  log "stage 1: validate manifests"
  for kind in speech text paired; do
    for split in train dev; do
      f="$data/${kind}_${split}.tsv"
      [ -f "$f" ] && python manifests/validate_manifest.py "$kind" "$f" --skip-invalid || true
    done
  done
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ] && [ ! -f "$data/dict.char.txt" ]; then
  log "stage 2: character vocabulary"
  python manifests/build_char_vocab.py --out "$data/dict.char.txt" \
    "$data/text_train.tsv" "$data/paired_train.tsv"
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  extra=()
  if [ "$arch" = mslam_large ]; then lr=${lr:-3.6e-4}; extra+=(--checkpoint-activations); fi
  lr=${lr:-6e-4}
  log "stage 3: pre-train $arch -> $exp"
  mkdir -p "$exp"
  fairseq-train "$data" --user-dir mslam_plugin \
    --task mslam_pretraining --arch "$arch" --criterion mslam_pretraining \
    --train-subset train --valid-subset dev --batch-size 1 --skip-invalid \
    --speech-sequences 16 --text-sequences 64 --paired-sequences 2 \
    --max-speech-frames-per-batch 48000 --max-text-chars-per-batch 32768 \
    --max-paired-frames-per-batch 6000 --max-speech-frames 3000 --max-text-chars 512 \
    --language-temperature 3 --batches-per-epoch 10000 \
    --optimizer adam --adam-betas '(0.9, 0.98)' --adam-eps 1e-6 --weight-decay 0.01 \
    --lr "$lr" --lr-scheduler inverse_sqrt --warmup-updates "$warmup" --clip-norm 10.0 \
    --max-update "$max_update" --update-freq 2 --bf16 --num-workers 6 \
    --ddp-backend pytorch_ddp --save-interval-updates 5000 --keep-interval-updates 5 \
    --validate-interval-updates 5000 --no-epoch-checkpoints \
    --log-interval 100 --log-format json --tensorboard-logdir "$exp/tensorboard" \
    --save-dir "$exp" "${extra[@]}" "$@" 2>&1 | tee -a "$exp/train.log"
fi
