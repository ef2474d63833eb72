#!/usr/bin/env bash
# Updates the vendored uPlot (the dashboard's chart library) from the npm registry:
# `scripts/update-uplot.sh [VERSION]` (default: the pinned version below). It fetches the
# package with `npm pack`, checks npm's integrity hash, and copies the minified IIFE build, its
# stylesheet and its licence into tracker/web/vendor/uplot/, which the daemon embeds with
# include_bytes!. Bump VERSION here, run it, rebuild, and run the dashboard tests.
set -euo pipefail

version="${1:-1.6.32}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/tracker/web/vendor/uplot"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "uplot@$version" >/dev/null
expected="$(npm view "uplot@$version" dist.integrity)"
actual="sha512-$(openssl dgst -sha512 -binary "uplot-$version.tgz" | base64 -w0)"
if [[ "$expected" != "$actual" ]]; then
    echo "update-uplot: integrity mismatch for uplot@$version: $actual, npm says $expected" >&2
    exit 1
fi
tar xzf "uplot-$version.tgz"
mkdir -p "$dest"
cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE "$dest/"
printf '%s\n' "$version" > "$dest/VERSION"
echo "update-uplot: tracker/web/vendor/uplot now holds uplot@$version"
