#!/usr/bin/env bash
# A longer fuzz campaign than CI's: the mutation fuzzer of crates/validate/tests/it/fuzz.rs
# (parse, validate, translate both ways; FHIRPath expressions mutated from seeds or generated from
# the grammar over the corpus resources) for SECONDS, in a release build.
#
#   bash bench/fuzz.sh [SECONDS] [SEED]      (SPFHIR_SHARED: the shared/ folder, default ../shared)
#
# Prints runs, panics, hangs (inputs over 1 s), how many generated FHIRPath expressions parsed,
# and the slowest inputs per KB; fails if any input panicked or hung. SPFHIR_FUZZ_LOG=FILE keeps
# the input under test in FILE, to recover one that aborts the process.
set -euo pipefail
cd "$(dirname "$0")/.."
export SPFHIR_SHARED=${SPFHIR_SHARED:-$(cd .. && pwd)/shared}
export SPFHIR_FUZZ_SECONDS=${1:-60}
export SPFHIR_FUZZ_SEED=${2:-$(date +%s)}
echo "fuzzing for $SPFHIR_FUZZ_SECONDS s, seed $SPFHIR_FUZZ_SEED"
cargo test --release -q -p spfhir-validate --test it fuzz::mutated_inputs_never_panic -- --nocapture 2>&1 \
  | grep -E '^fuzz:|panicked|inputs panicked|test result'
