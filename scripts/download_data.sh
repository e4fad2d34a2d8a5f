#!/usr/bin/env bash
# Download the public annotation files (and, on request, feature archives) into data/.
#
#   bash scripts/download_data.sh [qvhighlights] [charades_sta] [tvsum] [tacos] [youtube_uni]   # annotations
#                                                                    (default: all five)
#   FEATURES_URL=<url of a features .tar.gz> bash scripts/download_data.sh --features DEST_DIR
#
# Annotations come from the public repositories that commit them as plain files (moment_detr for QVHighlights,
# CG-DETR for Charades-STA and TVSum, lighthouse for TACoS and YouTube Highlights: the same records as the
# authors' data/tacos/{train,val,test}.jsonl and data/youtube_uni/youtube_{train,valid}.jsonl; see data/README.md).
# The annotations are licensed CC BY-NC-SA 4.0 (QVHighlights) / research-only (the others): do not commit them.
# Override a source with MOMENT_DETR_RAW / CGDETR_RAW / LIGHTHOUSE_RAW (base URL of the raw files).
# Features (several GB) are hosted on Google Drive / Hugging Face by the authors; their links are listed in
# data/README.md. Pass one as FEATURES_URL (a direct download URL) to fetch and unpack it with this script.
set -euo pipefail

MOMENT_DETR_RAW="${MOMENT_DETR_RAW:-https://raw.githubusercontent.com/jayleicn/moment_detr/main/data}"
CGDETR_RAW="${CGDETR_RAW:-https://raw.githubusercontent.com/wjun0830/CGDETR/main/data}"
LIGHTHOUSE_RAW="${LIGHTHOUSE_RAW:-https://raw.githubusercontent.com/line/lighthouse/main/data}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${DATA_DIR:-$ROOT/data}"

die() { echo "error: $*" >&2; exit 1; }

fetch() {  # fetch URL DEST: download to a temporary file, rename when complete
    local url="$1" dest="$2"
    mkdir -p "$(dirname "$dest")"
    if command -v curl >/dev/null 2>&1; then
        curl -fL --retry 2 --connect-timeout 15 -o "$dest.part" "$url" || { rm -f "$dest.part"; die "download failed: $url"; }
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$dest.part" "$url" || { rm -f "$dest.part"; die "download failed: $url"; }
    else
        die "neither curl nor wget is installed"
    fi
    mv "$dest.part" "$dest"
    echo "  $dest ($(wc -c <"$dest") bytes)"
}

check_online() {
    local host="$1"
    if command -v curl >/dev/null 2>&1; then
        curl -sfI --connect-timeout 10 --max-time 20 "$host" >/dev/null 2>&1 && return 0
    elif command -v wget >/dev/null 2>&1; then
        wget -q --spider --timeout=15 "$host" >/dev/null 2>&1 && return 0
    fi
    die "cannot reach $host: this machine has no internet access (or curl/wget is missing).
Download the files on a machine with internet access (links in data/README.md) and copy them to $DATA/,
or train on the embedded synthetic dataset: python -m video_lights.data.synthetic --out data/synthetic"
}

if [[ "${1:-}" == "--features" ]]; then
    dest="${2:-}"
    [[ -n "$dest" ]] || die "usage: FEATURES_URL=<url> $0 --features DEST_DIR"
    [[ -n "${FEATURES_URL:-}" ]] || die "set FEATURES_URL to a direct download URL of a features .tar.gz (see data/README.md)"
    check_online "$FEATURES_URL"
    mkdir -p "$dest"
    fetch "$FEATURES_URL" "$dest/features.tar.gz"
    tar -xzf "$dest/features.tar.gz" -C "$dest" && rm "$dest/features.tar.gz"
    echo "unpacked into $dest; check it with: python -m video_lights.data.check --preset qvhl --feat_root <features dir>"
    exit 0
fi

sets=("$@")
[[ ${#sets[@]} -gt 0 ]] || sets=(qvhighlights charades_sta tvsum tacos youtube_uni)
check_online "https://raw.githubusercontent.com"
for s in "${sets[@]}"; do
    echo "$s:"
    case "$s" in
        qvhighlights)
            for split in train val test; do
                fetch "$MOMENT_DETR_RAW/highlight_${split}_release.jsonl" "$DATA/highlight_${split}_release.jsonl"
            done ;;
        charades_sta)
            for split in train test; do
                fetch "$CGDETR_RAW/charades_sta/charades_sta_${split}_tvr_format.jsonl" \
                      "$DATA/charades_sta/charades_sta_${split}_tvr_format.jsonl"
            done ;;
        tvsum)
            for split in train val; do
                fetch "$CGDETR_RAW/tvsum/tvsum_${split}.jsonl" "$DATA/tvsum/tvsum_${split}.jsonl"
            done ;;
        tacos)  # lighthouse's tacos_{split}_release.jsonl = the authors' data/tacos/{split}.jsonl
            for split in train val test; do
                fetch "$LIGHTHOUSE_RAW/tacos/tacos_${split}_release.jsonl" "$DATA/tacos/${split}.jsonl"
            done ;;
        youtube_uni)  # lighthouse's youtube_highlight_{train,val}_release.jsonl = youtube_{train,valid}.jsonl
            fetch "$LIGHTHOUSE_RAW/youtube_highlight/youtube_highlight_train_release.jsonl" \
                  "$DATA/youtube_uni/youtube_train.jsonl"
            fetch "$LIGHTHOUSE_RAW/youtube_highlight/youtube_highlight_val_release.jsonl" \
                  "$DATA/youtube_uni/youtube_valid.jsonl" ;;
        *) die "unknown dataset '$s' (choose from qvhighlights charades_sta tvsum tacos youtube_uni)" ;;
    esac
done
echo "done. Validate with: python -m video_lights.data.check --preset qvhl --feat_root <features dir>"
