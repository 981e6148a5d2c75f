#!/usr/bin/env bash
# A larger MT TSV for speech + text fine-tuning: the corpus's own mt_train.tsv plus
# X->English paragraphs of LibreOffice's help (Debian libreoffice-help-*, MPL-2.0),
# without any sentence of the corpus's dev and test sets.
#
# usage: examples/tiny/prepare_mt_text.sh --data DIR [--langs de,fr,es] [--cache DIR]
#                                         [--max-per-lang N]
# Downloads libreoffice-help-en-us and libreoffice-help-<lang> with `apt-get download`
# (nothing is installed) into the cache (default DIR/_libreoffice), extracts them there
# with `dpkg -x` (both skipped when already done) and writes DIR/mt_train_lo.tsv; train
# with `--mt-subset mt_train_lo` (examples/tiny/finetune_st.sh: -- --mt-subset mt_train_lo).
set -euo pipefail

data=
langs=de,fr,es
cache=
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --langs) langs=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --max-per-lang) extra+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
if [ -z "$data" ]; then
  echo "error: --data DIR is required (a corpus built by examples/tiny/prepare.sh)" >&2
  exit 2
fi
for f in mt_train mt_dev mt_test dev_st test_st; do
  if [ ! -f "$data/$f.tsv" ]; then
    echo "error: $data/$f.tsv not found (build the corpus with examples/tiny/prepare.sh)" >&2
    exit 2
  fi
done
for tool in apt-get dpkg; do
  if ! command -v "$tool" > /dev/null; then
    echo "error: $tool not found: the LibreOffice help comes as Debian packages" >&2
    exit 2
  fi
done
# the package's Python: `python` when it imports mslam_plugin, else the repository's .venv
repo=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-python}
if ! "$python" -c "import mslam_plugin" > /dev/null 2>&1; then
  python=$repo/.venv/bin/python
fi

log() { echo "$(date +%H:%M:%S) [mt-text] $*"; }
cache=$(mkdir -p "${cache:-$data/_libreoffice}" && cd "${cache:-$data/_libreoffice}" && pwd)
tree=$cache/tree
mkdir -p "$tree"
apt_opts=()
[ "$(id -u)" -eq 0 ] && apt_opts=(-o APT::Sandbox::User=root)  # root: no _apt warning
updated=0
download() { (cd "$cache" && apt-get download -qq "${apt_opts[@]}" "$1"); }
packages=(libreoffice-help-en-us)
for lang in ${langs//,/ }; do packages+=("libreoffice-help-${lang,,}"); done
newest() { ls "$cache/${1}"_*.deb 2> /dev/null | sort -V | tail -n 1; }
for pkg in "${packages[@]}"; do
  deb=$(newest "$pkg")
  if [ -n "$deb" ] && ! dpkg-deb --fsys-tarfile "$deb" > /dev/null 2>&1; then
    log "removing $deb: not a whole package (an interrupted download?)"
    rm -f "$deb"
  fi
  if [ -z "$(newest "$pkg")" ]; then
    log "downloading $pkg"
    if ! download "$pkg"; then
      # stale or missing package lists: root updates them once and tries again
      if [ "$(id -u)" -ne 0 ] || [ "$updated" -eq 1 ] || ! apt-get update -qq \
          || ! { updated=1; download "$pkg"; }; then
        echo "error: apt-get download $pkg failed: no such package (is '$pkg' a" \
             "LibreOffice help language?), or stale package lists (apt-get update)" >&2
        exit 1
      fi
    fi
  fi
  deb=$(newest "$pkg")
  if [ ! -f "$tree/.extracted.$(basename "$deb")" ]; then
    log "extracting $(basename "$deb")"
    dpkg -x "$deb" "$tree"
    touch "$tree/.extracted.$(basename "$deb")"
  fi
done

log "writing $data/mt_train_lo.tsv"
"$python" -m mslam_plugin.corpus.libreoffice_help \
  --help-root "$tree/usr/share/libreoffice/help" --langs "$langs" \
  --append "$data/mt_train.tsv" --out "$data/mt_train_lo.tsv" "${extra[@]}" \
  --exclude "$data/dev_st.tsv" "$data/test_st.tsv" "$data/mt_dev.tsv" "$data/mt_test.tsv"
