#!/usr/bin/env bash
# Fuzzes shipgate's parsers and decoders with cargo-fuzz (libFuzzer); the targets live in
# fuzz/fuzz_targets, their seed corpora in fuzz/corpus/<target>, dictionaries in fuzz/dict.
#
#   scripts/fuzz.sh                       every target for 20 s each
#   scripts/fuzz.sh --time 300            every target for 300 s each
#   scripts/fuzz.sh --runs 10000000       every target for 10 million executions
#   scripts/fuzz.sh --runs 100000 ics     only the named targets
#   scripts/fuzz.sh --runs 100000 --seed 1   the same executions every time (what CI runs:
#                                         a fresh checkout then fuzzes reproducibly)
#
# The seed corpus in the repository is only read: what a run discovers goes to
# fuzz/target-corpus/<target> (ignored by git), so a CI run leaves the checkout as it was.
# A crash stops the run with its input saved under fuzz/artifacts/<target>/; reproduce it
# with `cargo fuzz run -s none <target> <file>` from the repository root, and keep it
# in fuzz/corpus/<target> once fixed.
#
# Only stable Rust is needed: libFuzzer's coverage instrumentation is a stable codegen
# option, and the address sanitizer (which needs nightly) finds nothing that safe Rust's
# own checks do not, so it is off (`-s none`). cargo-fuzz builds optimised with debug
# assertions and overflow checks on: an integer overflow is a finding.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
mode=(-max_total_time=20)
targets=()
seed=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) mode=(-max_total_time="$2"); shift 2 ;;
    --runs) mode=(-runs="$2"); shift 2 ;;
    --seed) seed=(-seed="$2"); shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    -*) echo "unknown option $1; see scripts/fuzz.sh --help" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "== cargo install cargo-fuzz@$CARGO_FUZZ_VERSION"
  cargo install --locked "cargo-fuzz@$CARGO_FUZZ_VERSION"
fi

if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

# Its own target dir: the fuzz build's instrumented flags would rebuild the main one.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"
build=(-s none)

echo "== cargo fuzz build (${targets[*]})"
cargo fuzz build "${build[@]}"

summary=()
for target in "${targets[@]}"; do
  echo "== fuzz $target ${mode[*]}"
  found="fuzz/target-corpus/$target"
  mkdir -p "$found" "fuzz/corpus/$target"
  dict=()
  [ -f "fuzz/dict/$target.dict" ] && dict=(-dict="fuzz/dict/$target.dict")
  log="$(mktemp)"
  start=$(date +%s)
  # The first corpus directory receives new inputs; the seeds are only read.
  if ! cargo fuzz run "${build[@]}" "$target" "$found" "fuzz/corpus/$target" -- \
      "${mode[@]}" "${seed[@]}" "${dict[@]}" -max_len=65536 -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 2>&1 | tee "$log" |
      grep -vE '^#[0-9]+\s+(NEW|REDUCE|pulse)'; then
    echo "fuzz target $target failed; its crashing input is under fuzz/artifacts/$target/" >&2
    exit 1
  fi
  seconds=$(( $(date +%s) - start ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rm -f "$log"
  summary+=("$(printf '%-22s %12s executions in %5s s' "$target" "${runs:-?}" "$seconds")")
done

echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
