#!/usr/bin/env bash
# Lays out a folder of photos as a 3-class ImageFolder for trying `track train` on colour photos:
# `scripts/make-photo-classes.sh PHOTOS OUT`.
#
# PHOTOS holds images and a MANIFEST.tsv with the columns `out`, `source` (the image a photo was
# cropped or varied from), `width`, `height`. Photos of the same source go to the same class;
# the sources, sorted by name, are dealt round-robin into the classes `a`, `b` and `c`. The
# images are linked, not copied.
set -euo pipefail
if [[ $# -ne 2 ]]; then
    echo "usage: $0 PHOTOS OUT" >&2
    exit 2
fi
photos="$(cd "$1" && pwd)"
out="$2"
manifest="$photos/MANIFEST.tsv"
if [[ ! -f "$manifest" ]]; then
    echo "$0: $manifest not found" >&2
    exit 2
fi
mkdir -p "$out"/{a,b,c}
classes=(a b c)
i=0
declare -A class_of
while IFS= read -r source; do
    class_of["$source"]="${classes[$((i % 3))]}"
    i=$((i + 1))
done < <(tail -n +2 "$manifest" | cut -f2 | sort -u)
tail -n +2 "$manifest" | while IFS=$'\t' read -r file source _; do
    ln -sf "$photos/$file" "$out/${class_of[$source]}/$file"
done
for c in "${classes[@]}"; do
    echo "$c: $(find "$out/$c" -maxdepth 1 -name '*.*' | wc -l) photos"
done
