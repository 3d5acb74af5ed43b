#!/usr/bin/env bash
# Renders an HTML report with headless Chromium and checks that the screenshot is not blank.
#
# Usage: tests/html_screenshot.sh REPORT.html [OUT.png]
#   OUT.png defaults to REPORT.png beside the report. Needs /usr/bin/chromium (Debian package `chromium`) and
#   python3 (standard library only).
# Exit status: 0 the page rendered with content; 1 the screenshot is missing or blank; 2 usage error;
#   77 Chromium is not installed (CTest: SKIP_RETURN_CODE 77).
# The check decodes the PNG itself (zlib, PNG row filters) and requires at least MIN_COLOURS distinct colours and
# MIN_INK of the pixels differing from the most common (background) colour; both can be overridden from the
# environment.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 REPORT.html [OUT.png]" >&2
  exit 2
fi
html=$1
out=${2:-${html%.html}.png}
if [[ ! -f "$html" ]]; then
  echo "$0: $html: no such file" >&2
  exit 2
fi
chromium=${CHROMIUM:-/usr/bin/chromium}
if [[ ! -x "$chromium" ]]; then
  echo "$0: $chromium not found (apt-get install chromium); skipping" >&2
  exit 77
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
abs=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
rm -f "$out"
timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$profile" \
  --hide-scrollbars --screenshot="$out" --window-size=1400,2400 "file://$abs" >"$profile/chromium.log" 2>&1 || true
if [[ ! -s "$out" ]]; then
  echo "$0: Chromium wrote no screenshot; its log:" >&2
  cat "$profile/chromium.log" >&2
  exit 1
fi

MIN_COLOURS=${MIN_COLOURS:-24} MIN_INK=${MIN_INK:-0.03} python3 - "$out" <<'EOF'
import os, struct, sys, zlib

path = sys.argv[1]
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"{path}: not a PNG")
pos, idat, width, height, colour_type, depth = 8, [], 0, 0, 0, 0
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height, depth, colour_type = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat.append(body)
    pos += 12 + length
channels = {2: 3, 6: 4}.get(colour_type)
if depth != 8 or channels is None:
    sys.exit(f"{path}: unsupported PNG (depth {depth}, colour type {colour_type})")
raw = zlib.decompress(b"".join(idat))
stride = width * channels
prev = bytearray(stride)
counts = {}
for y in range(height):
    base = y * (stride + 1)
    f = raw[base]
    row = bytearray(raw[base + 1:base + 1 + stride])
    if f == 1:
        for i in range(channels, stride):
            row[i] = (row[i] + row[i - channels]) & 255
    elif f == 2:
        row = bytearray((a + b) & 255 for a, b in zip(row, prev))
    elif f == 3:
        for i in range(stride):
            left = row[i - channels] if i >= channels else 0
            row[i] = (row[i] + ((left + prev[i]) >> 1)) & 255
    elif f == 4:
        for i in range(stride):
            a = row[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = row
    if y % 2 == 0:  # every other row is plenty for the statistics
        for x in range(0, stride, channels * 2):
            key = bytes(row[x:x + 3])
            counts[key] = counts.get(key, 0) + 1
total = sum(counts.values())
background = max(counts.values())
ink = 1 - background / total
print(f"{path}: {width}x{height}, {len(counts)} distinct colours, {100 * ink:.1f}% of pixels not background")
if len(counts) < int(os.environ["MIN_COLOURS"]) or ink < float(os.environ["MIN_INK"]):
    sys.exit(f"{path}: the page looks blank")
EOF
