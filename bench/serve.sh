#!/usr/bin/env bash
# Load figures for README: `spfhir serve` on loopback, driven by wrk (Debian: apt-get install
# wrk), with req/s and latency percentiles for each workload.
#
#   bash bench/serve.sh [sqlite|postgres] [SECONDS] [ONLY]
#
# Defaults: sqlite, 10 s per workload, every workload. ONLY picks the workloads whose label
# contains it (e.g. `process-message`, `search`); the 100,000 Patients are loaded only when
# the search runs.
#
# SPFHIR_BENCH_BIN=PATH runs that binary instead of building this checkout.
# SPFHIR_BENCH_CONNECTIONS=N opens N connections instead of 32 (latency against load).
# Needs SPFHIR_SHARED (the shared/ folder, default ../shared). PostgreSQL: SPFHIR_TEST_POSTGRES
# (default postgres://postgres@127.0.0.1:5432/postgres); a database spfhir_bench is made afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
secs=${2:-10}
only=${3:-}
conns=${SPFHIR_BENCH_CONNECTIONS:-32}
shared=${SPFHIR_SHARED:-$(cd .. && pwd)/shared}
command -v wrk >/dev/null || { echo "wrk is needed (Debian: apt-get install wrk)" >&2; exit 1; }
# SPFHIR_BENCH_BIN runs another build (a copy of an earlier commit's binary, for a "before" column).
if [ -n "${SPFHIR_BENCH_BIN:-}" ]; then
  bin=$SPFHIR_BENCH_BIN
else
  cargo build --release --quiet --bin spfhir
  bin=$PWD/target/release/spfhir
fi
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port=18$((RANDOM % 900 + 100))
base="http://127.0.0.1:$port"
database="$work/spfhir.db"
if [ "$backend" = postgres ]; then
  admin=${SPFHIR_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
  psql "$admin" -qc "DROP DATABASE IF EXISTS spfhir_bench WITH (FORCE)" -c "CREATE DATABASE spfhir_bench" >/dev/null
  database="${admin%/*}/spfhir_bench"
fi
cat > "$work/spfhir.toml" <<TOML
listen = "127.0.0.1:$port"
database = "$database"
[limits]
rate_per_second = 0
TOML
SPFHIR_LOG=warn SPFHIR_PACKAGE_PATH="$shared/fhir" "$bin" serve --config "$work/spfhir.toml" --insecure-dev 2> "$work/server.log" &
pid=$!
for _ in $(seq 1 100); do curl -sf "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$base/readyz" >/dev/null || { cat "$work/server.log"; exit 1; }
echo "# idle RSS after start: $(( $(awk '/VmRSS/ {print $2}' /proc/$pid/status) / 1024 )) MB"

# Bodies: a referral ServiceRequest, a Patient, a 2-resource transaction, spfhir's referral message.
sr=examples/fhir/service-request.json
cat > "$work/patient.json" <<'JSON'
{"resourceType":"Patient","identifier":[{"system":"https://example.org/bench","value":"__N__"}],"name":[{"family":"Smith","given":["Sam"]}],"gender":"female","birthDate":"1950-02-03"}
JSON
cat > "$work/tx.json" <<'JSON'
{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:6d1b7d3a-7e0e-4d0f-9d8e-1b2c3d4e5f60","resource":{"resourceType":"Patient","identifier":[{"system":"https://example.org/bench","value":"tx-__N__"}],"gender":"female"},"request":{"method":"POST","url":"Patient"}},
 {"resource":{"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"Join a walking group"},"subject":{"reference":"urn:uuid:6d1b7d3a-7e0e-4d0f-9d8e-1b2c3d4e5f60"}},"request":{"method":"POST","url":"Goal"}}]}
JSON
"$bin" translate --kind referral --to fhir examples/domain/referral.json \
  | python3 -c 'import json,sys; b=json.load(sys.stdin); b["identifier"]={"system":"https://example.org/bench","value":"bench-__N__"}; print(json.dumps(b))' > "$work/message.json"
entries=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["entry"]))' "$work/message.json")

wanted() { [ -z "$only" ] || [[ "$1" == *"$only"* ]]; }

# 100,000 Patients, in transactions of 1,000.
if wanted "search"; then
echo "# loading 100,000 Patients"
python3 - "$work" <<'PY'
import json, sys
for t in range(100):
    entries = [{"resource": {"resourceType": "Patient", "name": [{"family": "Smith" if i % 5 else "Jones"}], "gender": "female" if i % 2 else "male",
                "identifier": [{"system": "https://example.org/load", "value": f"{t}-{i}"}]}, "request": {"method": "POST", "url": "Patient"}} for i in range(1000)]
    open(f"{sys.argv[1]}/load-{t}.json", "w").write(json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}))
PY
for t in $(seq 0 99); do
  curl -sf -o /dev/null -H 'content-type: application/fhir+json' --data-binary "@$work/load-$t.json" "$base/" || { echo "load failed"; tail "$work/server.log"; exit 1; }
done
fi
read_id=$(curl -sf -H 'content-type: application/fhir+json' --data-binary @"$work/patient.json" "$base/Patient" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

run() { # LABEL PATH [BODY_FILE]
  local label=$1 path=$2 body=${3:-}
  wanted "$label" || return 0
  local out
  if [ -n "$body" ]; then
    out=$(BODY_FILE=$body wrk -t2 -c"$conns" -d"${secs}s" --latency -s bench/serve/post.lua "$base$path" 2>&1)
  else
    out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$base$path" 2>&1)
  fi
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%-34s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$label" "$rps" "$p50" "$p99" "${errors:-0}"
}
echo "# $backend, wrk -t2 -c$conns -d${secs}s on $(nproc) cores (load generator included)"
run "read by id"                         "/Patient/$read_id"
run "\$validate (SP referral)"           "/ServiceRequest/\$validate" "$sr"
run "search (20 of 100,000)"             "/Patient?family=jones&gender=male&_count=20"
run "create (SP referral ServiceRequest)" "/ServiceRequest" "$sr"
run "2-resource transaction"             "/" "$work/tx.json"
run "\$process-message ($entries resources)" "/\$process-message" "$work/message.json"
echo "# idle RSS after the run: $(( $(awk '/VmRSS/ {print $2}' /proc/$pid/status) / 1024 )) MB"
