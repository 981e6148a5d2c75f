#!/usr/bin/env bash
# The paper's ablation at small scale: four pre-training variants at equal updates and
# batch, each fine-tuned for transducer ASR, speech-only ST and speech + text ST with
# several seeds, probed for speech-text retrieval and language ID; results as JSON.
#
# usage: examples/ablation/run.sh [--data DIR] [--exp DIR] [--stage N] [--stop-stage N]
#            [--variants a,b,c,d] [--seeds 1,2,3] [--pretrain-seed N] [--langs all]
#            [--ft-langs de,fr,es] [--pretrain-updates N] [--asr-updates N]
#            [--st-updates N] [--pretrain-exp DIR] [--corpus-args "..."]
# Variants: a speech-only w2v-BERT (text, TLM and CTC weights 0; no text or paired
# sequences in the batch), b mSLAM-TLM (CTC weight 0), c mSLAM-CTC (every objective),
# d no pre-training (the fine-tuning models start from random weights).
# Stages (every run resumes from its checkpoint; a finished run or result is skipped):
#   1 corpus: all 20 voiced languages, every multi-way unit (100 test, 40 dev) and the
#     bilingual units of each language (~15 min)
#   2 the fine-tuning subset (--ft-langs)          3 pre-training, variants a b c (~40 min each)
#   4 retrieval + language-ID probes (~10 min each) 5 ASR (~8 min a run)
#   6 ST from speech, and the blind control (~20 min a run)
#   7 ST from speech + text, variants a b         8 the same, variants c d (~35 min a run)
#   9 results: EXP/results/summary.json (examples/ablation/report.py)
# Each run writes EXP/results/<task>_<variant>_s<seed>.json. --pretrain-exp DIR takes the
# pre-trained variants (stage 3) and probes (stage 4) from another experiment directory, so a
# longer fine-tuning schedule (a new --exp) reuses them.
set -euo pipefail
cd "$(dirname "$0")/../.."

data=data/ablation
exp=exp/ablation
stage=1
stop_stage=9
variants=a,b,c,d
seeds=1,2,3
pre_seed=1
ft_langs=de,fr,es
pre_updates=1000
asr_updates=500   # ~0.8 epochs of the fine-tuning subset
st_updates=1280   # ~4 epochs (2 epochs measured the blind floor: docs/ablation.md)
pre_exp=""
corpus_args="--langs all --bilingual --train-units 534 --dev-units 40 --test-units 100"
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --pretrain-seed) pre_seed=$2; shift 2 ;;
    --ft-langs) ft_langs=$2; shift 2 ;;
    --pretrain-updates) pre_updates=$2; shift 2 ;;
    --asr-updates) asr_updates=$2; shift 2 ;;
    --st-updates) st_updates=$2; shift 2 ;;
    --pretrain-exp) pre_exp=$2; shift 2 ;;
    --corpus-args) corpus_args=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
IFS=, read -r -a variant_list <<< "$variants"
IFS=, read -r -a seed_list <<< "$seeds"
for v in "${variant_list[@]}"; do
  case "$v" in a|b|c|d) ;; *) echo "unknown variant: $v (a, b, c or d)" >&2; exit 2 ;; esac
done
ft="$data/ft"
res="$exp/results"
log() { echo "$(date +%H:%M:%S) [ablation] $*"; }
want() { [ "$1" -ge "$stage" ] && [ "$1" -le "$stop_stage" ]; }
trained() { python examples/tiny/trained.py "$1/checkpoint_last.pt" "$2"; }
in_list() { local x=$1; shift; for y in "$@"; do [ "$x" = "$y" ] && return 0; done; return 1; }
start=$SECONDS

# a rerun resumes only runs made by the same recipe (options that change the models)
recipe="ablation-v1 pre $pre_updates seed $pre_seed asr $asr_updates st $st_updates ft $ft_langs"
pexp=$exp  # where the pre-trained variants and their probes live
if [ -n "$pre_exp" ]; then
  # an existing experiment of the same pre-training, corpus and fine-tuning languages (its
  # probes measure those languages); its own runs stamped it
  pexp=$(cd "$pre_exp" 2> /dev/null && pwd) || {
    echo "error: --pretrain-exp $pre_exp does not exist: run stages 3-4 there first" >&2; exit 2; }
  recipe="$recipe pretrain-exp"  # not its path: experiment directories may move
  pre_recipe="ablation-v1 pre $pre_updates seed $pre_seed "
  pre_ft=$(sed -n 's/.* ft \([^ ]*\).*/\1/p' "$pexp/.recipe" 2> /dev/null || true)
  if [ "$(head -c ${#pre_recipe} "$pexp/.recipe" 2> /dev/null)" != "$pre_recipe" ] \
      || [ "$pre_ft" != "$ft_langs" ]; then
    echo "error: $pexp was not pre-trained by this recipe ('$(cat "$pexp/.recipe" 2> /dev/null)';" \
         "this one: --pretrain-updates $pre_updates --pretrain-seed $pre_seed --ft-langs $ft_langs)" >&2
    exit 2
  fi
  if [ -f "$data/.options" ] && [ "$(cat "$pexp/.corpus" 2> /dev/null)" != "$(cat "$data/.options")" ]; then
    echo "error: $pexp holds models of another corpus than $data" >&2
    exit 2
  fi
fi
if [ -d "$exp" ] && [ -f "$exp/.recipe" ] && [ "$(cat "$exp/.recipe")" != "$recipe" ]; then
  echo "error: $exp was made by another recipe ('$(cat "$exp/.recipe")', now '$recipe'):" \
       "remove it or choose another --exp" >&2
  exit 2
fi
mkdir -p "$res" "$pexp/results"
echo "$recipe" > "$exp/.recipe"
check_corpus() {  # models of one corpus only (stamped once the corpus exists)
  [ -f "$data/.options" ] || return 0
  if [ -f "$exp/.corpus" ] && [ "$(cat "$exp/.corpus")" != "$(cat "$data/.options")" ]; then
    echo "error: $exp holds models of another corpus ('$(cat "$exp/.corpus")'; $data:" \
         "'$(cat "$data/.options")'): remove it or choose another --exp" >&2
    exit 2
  fi
  cat "$data/.options" > "$exp/.corpus"
}
check_corpus
fail() { echo "error: $1 (log: $2)" >&2; tail -5 "$2" >&2 2>/dev/null || true; exit 1; }

if want 1; then
  log "stage 1: corpus -> $data"
  # shellcheck disable=SC2086  # the corpus options are words
  bash examples/tiny/prepare.sh --data "$data" $corpus_args
  check_corpus
fi

if want 2; then
  log "stage 2: fine-tuning subset ($ft_langs) -> $ft"
  python examples/ablation/subset.py --data "$data" --langs "$ft_langs" --out "$ft"
fi

variant_flags() {
  case "$1" in
    a) echo "--text-mlm-weight 0 --tlm-text-weight 0 --tlm-speech-weight 0 --ctc-weight 0" \
            "--text-sequences 0 --paired-sequences 0" ;;
    b) echo "--ctc-weight 0" ;;
    c) echo "" ;;
  esac
}
pretrained() { if [ "$1" = d ] || [ "$1" = blind ]; then echo none; else echo "$pexp/pretrain_$1/checkpoint_last.pt"; fi; }

if want 3; then
  for v in "${variant_list[@]}"; do
    [ "$v" = d ] && continue
    dir="$pexp/pretrain_$v"
    if trained "$dir" "$pre_updates"; then log "stage 3: variant $v trained already"; continue; fi
    log "stage 3: pre-train variant $v, $pre_updates updates -> $dir"
    # shellcheck disable=SC2046
    bash examples/tiny/pretrain.sh --data "$data" --exp "$dir" --max-update "$pre_updates" \
      -- --seed "$pre_seed" $(variant_flags "$v") > /dev/null || true
    trained "$dir" "$pre_updates" || fail "pre-training variant $v stopped early" "$dir/train.log"
  done
fi

if want 4; then
  for v in "${variant_list[@]}"; do
    out="$pexp/results/probe_$v.json"
    [ -f "$out" ] && continue
    log "stage 4: retrieval and language-ID probes of variant $v"
    ckpt=$(pretrained "$v"); init=()
    if [ "$v" = d ]; then  # the architecture of any pre-trained variant, random weights
      ckpt=none; init=(--random-init)
      for c in "$pexp"/pretrain_*/checkpoint_last.pt; do [ -f "$c" ] && ckpt=$c && break; done
      [ "$ckpt" != none ] || fail "variant d's probe needs one pre-trained variant (stage 3)" /dev/null
    fi
    python examples/ablation/probe.py --data "$data" --checkpoint "$ckpt" "${init[@]}" \
      --seed "$pre_seed" --langs "$ft_langs" --out "$out" > /dev/null 2> "${out%.json}.log" \
      || fail "probe of variant $v failed" "${out%.json}.log"
  done
fi

finetune_st() {  # variant seed name [finetune_st.sh flags]
  local v=$1 s=$2 name=$3; shift 3
  local dir="$exp/${name}_${v}_s$s" out="$res/${name}_${v}_s$s.json"
  [ -f "$out" ] && return 0
  if ! trained "$dir" "$st_updates"; then
    log "$name: variant $v seed $s, $st_updates updates -> $dir"
    bash examples/tiny/finetune_st.sh --data "$ft" --exp "$dir" --pretrained "$(pretrained "$v")" \
      --max-update "$st_updates" "$@" -- --seed "$s" > /dev/null || true
    trained "$dir" "$st_updates" || fail "$name of variant $v seed $s stopped early" "$dir/train.log"
  fi
  for modality in speech text; do
    bash examples/covost2/decode.sh --data "$ft" --checkpoint "$dir/checkpoint_last.pt" \
      --out "$dir/decode" --modality "$modality" -- --max-len-a 0.1 --max-len-b 20 > /dev/null
  done
  python examples/ablation/results.py "$dir" "$out"  # scores, dev figures, translations
}

if want 5; then
  for v in "${variant_list[@]}"; do for s in "${seed_list[@]}"; do
    dir="$exp/asr_${v}_s$s"; out="$res/asr_${v}_s$s.json"
    [ -f "$out" ] && continue
    if ! trained "$dir" "$asr_updates"; then
      log "stage 5: ASR, variant $v seed $s, $asr_updates updates -> $dir"
      bash examples/tiny/finetune_asr.sh --data "$ft" --exp "$dir" --pretrained "$(pretrained "$v")" \
        --max-update "$asr_updates" -- --seed "$s" > /dev/null || true
      trained "$dir" "$asr_updates" || fail "ASR of variant $v seed $s stopped early" "$dir/train.log"
    fi
    python -m mslam_plugin.decode_asr --data "$ft" --split paired_test --beam 1 \
      --checkpoint "$dir/checkpoint_last.pt" --out "$dir/decode" 2> "$dir/decode-greedy.log" \
      > /dev/null || fail "ASR decoding of variant $v seed $s failed" "$dir/decode-greedy.log"
    cp "$dir/decode/scores-paired_test-greedy.json" "$out"
  done; done
fi

if want 6; then
  for s in "${seed_list[@]}"; do  # the blind control: what a decoder alone scores
    log "stage 6: ST blind control, seed $s"
    finetune_st blind "$s" st --blind
  done
  for v in "${variant_list[@]}"; do for s in "${seed_list[@]}"; do
    log "stage 6: ST from speech, variant $v seed $s"
    finetune_st "$v" "$s" st
  done; done
fi

for n in 7 8; do
  want "$n" || continue
  for v in "${variant_list[@]}"; do
    if [ "$n" = 7 ] && ! in_list "$v" a b; then continue; fi
    if [ "$n" = 8 ] && ! in_list "$v" c d; then continue; fi
    for s in "${seed_list[@]}"; do
      log "stage $n: ST from speech + text, variant $v seed $s"
      finetune_st "$v" "$s" st_text --with-text
    done
  done
done

if want 9; then
  log "stage 9: results -> $res/summary.json"
  python examples/ablation/report.py --exp "$exp" --data "$ft" --pretrain-exp "$pexp"
fi
log "finished in $((SECONDS - start)) s"
