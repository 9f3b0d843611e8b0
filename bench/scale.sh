#!/usr/bin/env bash
# Does validation scale linearly? The same shape at 1x, 4x and 16x, through the CLI:
#   - a one-line Patient with N empty names (N issues on one long line),
#   - a one-line Bundle of N entries (bdl-7's isDistinct over N fullUrls, N references),
#   - NDJSON of N referrals.
# Prints wall seconds and peak RSS per size, and the 4x/1x and 16x/4x time ratios (linear
# is about 4; the bar is under 5).
#
#   bash bench/scale.sh [BASE_N]      (SPFHIR_SHARED: the shared/ folder, default ../shared)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SPFHIR_SHARED:-../shared}
n=${1:-25000}
out=target/bench-scale
mkdir -p "$out"
cargo build --release --quiet --bin spfhir && cargo build --release --quiet -p spfhir-translate --example validate_corpus
bin=target/release/spfhir
cargo run --release --quiet -p spfhir-translate --example validate_corpus -- "$out/corpus" $((n * 16 / 25)) > /dev/null 2>&1

patient() { # N
  awk -v n="$1" 'BEGIN { printf "{\"resourceType\":\"Patient\",\"name\":["; for (i = 0; i < n; i++) printf "%s{}", (i ? "," : ""); print "]}" }'
}
bundle() { # N
  awk -v n="$1" 'BEGIN { printf "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[";
    for (i = 0; i < n; i++) printf "%s{\"fullUrl\":\"urn:uuid:%08d-0000-4000-8000-000000000000\",\"resource\":{\"resourceType\":\"Basic\",\"id\":\"b%d\",\"code\":{\"text\":\"x\"},\"subject\":{\"reference\":\"urn:uuid:%08d-0000-4000-8000-000000000000\"}}}", (i ? "," : ""), i, i, (i + 1) % n;
    print "]}" }'
}

measure() { # FILE ARGS... -> "seconds peakMB"
  local f=$1; shift
  /usr/bin/time -f "%e %M" -o "$out/time" "$bin" validate --package-path "$shared/fhir" --unchecked-codes ignore --format ndjson "$@" "$f" > /dev/null 2>&1 || [ $? = 1 ]
  tail -n 1 "$out/time" | awk '{ printf "%s %d", $1, $2 / 1024 }'
}

for shape in patient bundle ndjson; do
  line="$shape:"
  prev=""
  for k in 1 4 16; do
    size=$((n * k))
    case $shape in
      patient) patient "$size" > "$out/in.json"; f="$out/in.json"; extra=() ;;
      bundle) bundle $((size / 5)) > "$out/in.json"; f="$out/in.json"; extra=() ;;
      ndjson) head -n $((size / 25)) "$out/corpus/referrals.ndjson" > "$out/in.ndjson"; f="$out/in.ndjson"; extra=(--jobs 1) ;;
    esac
    read -r secs mb <<< "$(measure "$f" "${extra[@]}")"
    ratio=""
    if [ -n "$prev" ]; then ratio=$(echo "$secs / $prev" | bc -l | awk '{ printf " (x%.1f)", $1 }'); fi
    line="$line  ${k}x ${secs} s ${mb} MB$ratio"
    prev=$secs
  done
  echo "$line"
done
