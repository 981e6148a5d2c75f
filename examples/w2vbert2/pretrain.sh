#!/usr/bin/env bash
# Continued pre-training of a converted w2v-BERT 2.0 (examples/w2vbert2/convert.sh) with
# every mSLAM objective: w2v-BERT contrastive + masked prediction on speech, span MLM
# on text, TLM and CTC on paired speech + transcript (examples/pretrain/run.sh, stage 3).
#
# usage: examples/w2vbert2/pretrain.sh --data DIR --init CKPT [--exp DIR] [--lr 1e-4]
#          [--warmup-updates 8000] [--max-update 200000] [-- extra fairseq-train flags]
# DIR: the directory convert.sh read (same dict.char.txt). Speech is read as w2v-BERT
# 2.0's own features (--speech-features w2vbert2). The first run starts from CKPT
# (--finetune-from-model: fresh optimizer and schedule); a rerun resumes from
# EXP/checkpoint_last.pt.
#
# Settings, scaled from the paper's (mSLAM section 3.3; 6e-4 peak, 40k warm-up, 1.3M
# updates from scratch) for a model whose speech side is already trained: peak lr 1e-4
# (higher rates undo the released encoder before the fresh text embedding, quantizer and
# heads are useful), 8k warm-up updates, 200k updates (our choice; watch loss_text_mlm,
# loss_ctc and the dev losses). One process takes 16 : 64 : 2 speech : text : paired
# sequences with --update-freq 2: on G GPUs an update holds G x 32 : 128 : 4. The paper's
# 2048 : 8192 : 256 takes 64 GPUs; on 8, -- --update-freq 8 gives 1024 : 4096 : 128,
# half of it (untested for continued training: lower --lr with smaller batches). bf16 as
# in run.sh; add -- --checkpoint-activations on GPUs with less than 40 GB.
set -euo pipefail

data= ; init= ; exp=exp/w2vbert2/pretrain ; lr=1e-4 ; warmup=8000 ; max_update=200000
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --init) init=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --lr) lr=$2; shift 2 ;;
    --warmup-updates) warmup=$2; shift 2 ;;
    --max-update) max_update=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
[ -n "$data" ] && [ -n "$init" ] || { sed -n '2,21p' "$0"; exit 2; }
[ -f "$init" ] || { echo "$init: not found (run examples/w2vbert2/convert.sh)" >&2; exit 2; }

bash examples/pretrain/run.sh --data "$data" --arch mslam_w2vbert2 --exp "$exp" \
  --stage 3 --lr "$lr" --warmup-updates "$warmup" --max-update "$max_update" \
  -- --finetune-from-model "$init" --speech-features w2vbert2 "$@"
