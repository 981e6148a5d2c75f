#!/usr/bin/env bash
# CoVoST 2 X->En from a local copy (Common Voice 4 clips + CoVoST 2 TSVs) into one
# multilingual speech_to_text directory with MT TSVs (see mslam_plugin/corpus/covost2.py).
#
# usage: examples/covost2/prepare.sh --cv-root DIR --covost-dir DIR --out DIR
#          [--langs fr,de,es,ca,it,ru,zh-CN,pt,fa,et,mn,nl,tr,ar,sv-SE,lv,sl,ta,ja,id,cy]
#          [--spm-vocab-size 8000]
# The default languages are the 21 X->En pairs of CoVoST 2 the paper evaluates.
set -euo pipefail

langs=fr,de,es,ca,it,ru,zh-CN,pt,fa,et,mn,nl,tr,ar,sv-SE,lv,sl,ta,ja,id,cy
cv= ; covost= ; out= ; spm=8000
while [ $# -gt 0 ]; do
  case "$1" in
    --cv-root) cv=$2; shift 2 ;;
    --covost-dir) covost=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --langs) langs=$2; shift 2 ;;
    --spm-vocab-size) spm=$2; shift 2 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
if [ -z "$cv" ] || [ -z "$covost" ] || [ -z "$out" ]; then
  echo "usage: $0 --cv-root DIR --covost-dir DIR --out DIR [--langs ...]" >&2; exit 2
fi
python -m mslam_plugin.corpus.covost2 --cv-root "$cv" --covost-dir "$covost" \
  --langs "$langs" --out "$out" --spm-vocab-size "$spm"
