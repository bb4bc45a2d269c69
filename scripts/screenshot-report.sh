#!/usr/bin/env bash
# Writes the HTML report of a scenario with the library (the ignored test
# `write_picture` in tests/pictures/main.rs) and takes a screenshot of it with
# headless Chromium, to check that the page is readable.
#
#   scripts/screenshot-report.sh [scenario] [out.png]
#
# Defaults: scenarios/election/seed-ring.yaml, target/pictures/report.png
# (the HTML beside it). Installs Chromium with apt-get when it is missing and
# this user may; otherwise says so and exits 0 without a screenshot (under
# CI, where a skipped check does not count, it fails instead).
set -euo pipefail

cd "$(dirname "$0")/.."
scenario="${1:-scenarios/election/seed-ring.yaml}"
png="${2:-target/pictures/report.png}"
mkdir -p "$(dirname "$png")"
png="$(cd "$(dirname "$png")" && pwd)/$(basename "$png")"
html="${png%.png}.html"

PICTURE_OUT="$html" PICTURE_SCENARIO="$scenario" PICTURE_KIND=html \
    cargo test --quiet --test pictures -- --ignored --exact write_picture >/dev/null
echo "report: $html"

browser=""
for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then browser="$b"; break; fi
done
if [ -z "$browser" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing chromium with apt-get ..."
        if timeout 900 apt-get install -y chromium >/dev/null 2>&1 \
            || { timeout 300 apt-get update >/dev/null 2>&1 && timeout 900 apt-get install -y chromium >/dev/null 2>&1; }; then
            browser=chromium
        fi
    fi
fi
if [ -z "$browser" ] && [ -n "${CI:-}" ]; then
    echo "FAIL: CI needs Chromium for the screenshot and could not install it" >&2
    exit 1
fi
if [ -z "$browser" ]; then
    echo "skipped: no Chromium here and it cannot be installed (needs root and apt-get); open $html in a browser instead"
    exit 0
fi

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
rm -f "$png"
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
    --screenshot="$png" --window-size=1400,1000 "file://$html" >/dev/null 2>&1 || true
if [ ! -s "$png" ]; then
    echo "screenshot failed: $browser wrote no $png" >&2
    exit 1
fi
echo "screenshot: $png"
