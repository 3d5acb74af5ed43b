#!/usr/bin/env bash
# `clustersim compare` with 20 results (issue #22, point 7): five chips x four fabrics of a 16-GPU Llama-3-8B, each run
# to a result.json, then compared with long labels into HTML and CSV. Checks: the CSV has a label column and one row
# per result; the text table prints money and energy with units and thousands separators (no "e+" notation); the HTML
# puts the metric table in a sideways-scrolling block and lays the comparison chart out one row per result, so no
# two chart labels share a line; headless Chromium renders it (tests/html_screenshot.sh: skipped, 77, without
# Chromium).
# Usage: compare20.sh CLUSTERSIM WORKDIR DATADIR SCREENSHOT_SCRIPT
set -u
cs=$1
dir=$2
data=$3
shot=$4
rm -rf "$dir" && mkdir -p "$dir"
cat >"$dir/template.textproto" <<'X'
name: "NAME"
accelerator { name: "H100-SXM" }
cluster { num_gpus: 16 scale_out { topology: "fat_tree" nic_bandwidth_gbps: 400 } }
workload { model { preset: "llama3_8b" seq_len: 4096 } parallelism { tp: 8 global_batch_size: 16 zero_stage: 1 } }
facility { training_tokens: 1e10 }
X
files=()
labels=()
for chip in H100-SXM H800 B200 A100-80GB H200; do
  for fabric in fat_tree rail_optimized rail_only multi_plane; do
    name="$chip-$fabric"
    sed -e "s/H100-SXM/$chip/" -e "s/fat_tree/$fabric/" -e "s/NAME/$name/" "$dir/template.textproto" \
      >"$dir/$name.textproto"
    "$cs" run "$dir/$name.textproto" --out "$dir/$name" -q >/dev/null 2>"$dir/$name.err" ||
      { echo "FAIL: run $name"; cat "$dir/$name.err"; exit 1; }
    files+=("$dir/$name/result.json")
    labels+=("$chip on $fabric")
  done
done
joined=$(IFS=,; echo "${labels[*]}")
"$cs" compare "${files[@]}" --labels "$joined" --html "$dir/compare.html" --csv "$dir/compare.csv" >"$dir/compare.txt" ||
  { echo "FAIL: compare"; exit 1; }
fail=0
rows=$(($(wc -l <"$dir/compare.csv") - 1))
[ "$rows" -eq 20 ] || { echo "FAIL: $rows CSV rows, expected 20"; fail=1; }
head -1 "$dir/compare.csv" | grep -q ',label$' || { echo "FAIL: the CSV has no label column"; fail=1; }
grep -q ',B200 on rail_only$' "$dir/compare.csv" || { echo "FAIL: labels missing from the CSV"; fail=1; }
grep -q 'e+' "$dir/compare.txt" && { echo "FAIL: scientific notation in the text table"; grep 'e+' "$dir/compare.txt"; fail=1; }
grep -q 'Wall-clock with failures' "$dir/compare.txt" || { echo "FAIL: no days with failures"; fail=1; }
grep -q 'Grid intensity' "$dir/compare.txt" || { echo "FAIL: no grid intensity"; fail=1; }
grep -qE 'TCO +\$[0-9.]+[kMB]' "$dir/compare.txt" || { echo "FAIL: no TCO with units"; fail=1; }
grep -q '<div class="scroll">' "$dir/compare.html" || { echo "FAIL: the summary table does not scroll"; fail=1; }
# The comparison chart: every result label on a line of its own (y positions at least 12 units apart).
python3 - "$dir/compare.html" <<'EOF' || fail=1
import re, sys
html = open(sys.argv[1]).read()
svg = html[html.index('aria-label="Comparison of step time'):]
svg = svg[:svg.index("</svg>")]
ys = sorted(float(y) for y, text in re.findall(r'<text x="[0-9.]+" y="([0-9.]+)" text-anchor="end">([^<]*)</text>', svg))
if len(ys) != 20 or min(b - a for a, b in zip(ys, ys[1:])) < 12:
    sys.exit("FAIL: comparison chart labels overlap or are missing: %d labels at %s" % (len(ys), ys))
EOF
"$shot" "$dir/compare.html" "$dir/compare.png"
rc=$?
[ $rc -eq 77 ] && [ $fail -eq 0 ] && exit 77
[ $rc -eq 0 ] || fail=1
[ $fail -eq 0 ] && echo "compare of 20 results: CSV, text and HTML checked"
exit $fail
