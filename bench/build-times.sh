#!/usr/bin/env bash
# Build-time figures for README: a clean `cargo test --no-run` of every target, then an
# incremental one after touching one line of the validator, on a fresh target dir.
#
#   bash bench/build-times.sh [COMMIT]     (default: HEAD; the tree is checked out apart)
set -euo pipefail
cd "$(dirname "$0")/.."
commit=${1:-HEAD}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/tree" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/tree" "$commit" >/dev/null 2>&1
cd "$work/tree"
export CARGO_TARGET_DIR="$work/target"
all=(--all-targets); [ -d crates ] && all=(--workspace --all-targets)
walk=
for f in crates/validate/src/walk/mod.rs crates/validate/src/walk.rs src/validate/walk.rs; do
  if [ -f "$f" ]; then walk=$f; break; fi
done
cargo fetch -q
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
clean=$(secs cargo test "${all[@]}" --no-run)
echo "// touched" >> "$walk"
incr=$(secs cargo test "${all[@]}" --no-run)
printf '%s: clean build of all test targets %.0f s; after touching %s %.1f s\n' "$(git rev-parse --short HEAD)" "$clean" "$walk" "$incr"
