#!/usr/bin/env bash
# Validation figures for README: throughput on 10,000 generated SP referrals and 10,000
# outcome QuestionnaireResponses (NDJSON, accept path), cold start of one file, peak RSS.
#
#   bash bench/validate.sh [COUNT]        (SPFHIR_SHARED: the shared/ folder, default ../shared)
#
# Packages: R4 core, UK Core and BaRS from $SPFHIR_SHARED/fhir, plus spfhir's own profiles.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000}
shared=${SPFHIR_SHARED:-../shared}
out=target/bench-validate
cargo build --release --quiet --bin spfhir && cargo build --release --quiet -p spfhir-translate --example validate_corpus
bin=target/release/spfhir
cargo run --release --quiet -p spfhir-translate --example validate_corpus -- "$out" "$count"
head -n 1 "$out/referrals.ndjson" > "$out/one.json"

have_time=0
if [ -x /usr/bin/time ]; then have_time=1; fi

# run LABEL ARGS...: wall seconds (and peak RSS when /usr/bin/time exists) of one spfhir run.
run() {
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  if [ "$have_time" = 1 ]; then
    /usr/bin/time -f "%M" -o "$out/rss" "$bin" "$@" > /dev/null 2>&1
  else
    "$bin" "$@" > /dev/null 2>&1
  fi
  end=$(date +%s.%N)
  local secs rss="n/a"
  secs=$(echo "$end - $start" | bc -l)
  if [ "$have_time" = 1 ]; then rss="$(( $(cat "$out/rss") / 1024 )) MB"; fi
  printf '%s\t%s\t%s\n' "$label" "$secs" "$rss"
}

pkg=(--package-path "$shared/fhir" --unchecked-codes ignore)

# The figures are for the accept path: every record of the corpus must be valid. A record
# with an error fails the run here, with its issues shown, rather than timing a reject path.
for kind in referrals outcomes; do
  if ! "$bin" validate "${pkg[@]}" --jobs 2 "$out/$kind.ndjson" > "$out/$kind.issues" 2>&1; then
    echo "bench/validate.sh: $out/$kind.ndjson has records with errors; first issues:" >&2
    grep -m 20 -i error "$out/$kind.issues" >&2 || head -n 20 "$out/$kind.issues" >&2
    exit 1
  fi
done
echo "# cold start: spfhir validate one.json (10 runs after one that fills the disk cache)"
run warm-up validate "${pkg[@]}" "$out/one.json" > /dev/null
for i in $(seq 10); do run cold-start validate "${pkg[@]}" "$out/one.json"; done \
  | sort -t$'\t' -k2 -n | awk -F'\t' '{a[NR]=$2; r=$3} END {printf "median %.0f ms, min %.0f ms, peak RSS %s\n", a[int((NR+1)/2)]*1000, a[1]*1000, r}'

# Throughput: five runs each (this kind of machine is shared; single runs vary by ±15%, and
# on a busy host by more), reported as the best and the median run.
for kind in referrals outcomes; do
  for jobs in 1 2; do
    runs=$(for i in 1 2 3 4 5; do run "$kind" validate "${pkg[@]}" --format ndjson --jobs "$jobs" "$out/$kind.ndjson"; done \
      | sort -t$'\t' -k2 -n)
    best=$(echo "$runs" | sed -n 1p | cut -f2)
    median=$(echo "$runs" | sed -n 3p | cut -f2)
    rss=$(echo "$runs" | sed -n 1p | cut -f3)
    printf '%s, %s thread(s): %d records: best %.2f s = %.0f records/s, median %.2f s = %.0f records/s (start-up included), peak RSS %s\n' \
      "$kind" "$jobs" "$count" "$best" "$(echo "$count / $best" | bc -l)" "$median" "$(echo "$count / $median" | bc -l)" "$rss"
  done
done
