#!/usr/bin/env bash
# Runs the libFuzzer targets of the patched mbedTLS's attestation parsers.
#
#   run.sh [SECONDS]   fuzz each target for SECONDS (default 60), nice 10,
#                      from a scratch copy of the committed corpus; a
#                      crashing input is kept under crashers/<target>/ and
#                      the script fails
#   run.sh replay      run every committed corpus and crasher input once
#                      (the regression test `make test` runs; seconds)
#   run.sh seeds       re-record the handshake seeds (record) and splice
#                      the parser vectors into them (seedgen)
#
# Targets (build.sh): fuzz_server (input = the client's flights) and
# fuzz_client (input = the server's flights), first byte = configuration;
# fuzz_cmw (input = a CMW, the peer's own reader). FUZZ_TARGETS="server"
# (or "client", "cmw") runs one of them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mode=${1:-60}
out=$(bash "$here/build.sh" | tail -n 1)
read -r -a targets <<<"${FUZZ_TARGETS:-server client cmw}"
status=0

# libFuzzer's options: inputs up to a large flight, a per-input limit,
# leaks are failures. One input is a whole sanitized handshake (ECDHE,
# ECDSA): 0.1-5 s on a loaded 2-core machine, so the hang limit is 60 s
# (10 s reported load stalls as timeouts, and slow units likewise).
opts=(-max_len=32768 -timeout=60 -report_slow_units=60 -rss_limit_mb=2048 -detect_leaks=1 -print_final_stats=1)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

if [ "$mode" = seeds ]; then
  # Re-record the handshake seeds and splice the parser vectors into them.
  "$out/record" "$here/corpus"
  (cd "$here/../../.." && go run ./peers/mbedtls/fuzz/seedgen -corpus "$here/corpus" -vectors vectors/parsers)
  exit 0
fi

if [ "$mode" = replay ]; then
  for t in "${targets[@]}"; do
    files=$(find "$here/corpus/$t" "$here/crashers/$t" -type f ! -name .gitkeep 2>/dev/null | wc -l)
    [ "$files" -gt 0 ] || { echo "run.sh: no inputs for $t" >&2; exit 1; }
    # Files as arguments are each run once, not fuzzed.
    if ! find "$here/corpus/$t" "$here/crashers/$t" -type f ! -name .gitkeep -print0 2>/dev/null |
      xargs -0 "$out/fuzz_$t" "${opts[@]}" -artifact_prefix="$scratch/" >"$scratch/$t.log" 2>&1; then
      echo "FAIL fuzz_$t: an input crashes; last lines:" >&2
      tail -n 40 "$scratch/$t.log" >&2
      status=1
    else
      echo "ok   fuzz_$t: $files inputs replayed"
    fi
  done
  exit $status
fi

case $mode in '' | *[!0-9]*) echo "usage: run.sh [SECONDS|replay|seeds]" >&2; exit 2 ;; esac
# What libFuzzer keeps of a failing input: crash-, leak-, timeout-, oom-.
artifacts() { find "$1" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l; }
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t" "$here/crashers/$t"
  log=$scratch/$t.log
  before=$(artifacts "$here/crashers/$t")
  set +e
  nice -n 10 "$out/fuzz_$t" "${opts[@]}" -max_total_time="$mode" \
    -artifact_prefix="$here/crashers/$t/" "$scratch/$t" "$here/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  after=$(artifacts "$here/crashers/$t")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
  echo "fuzz_$t: ${mode}s, ${execs:-?} execs, $cov, exit $rc, crashers $before -> $after"
  if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
    echo "FAIL fuzz_$t; last lines of its log:" >&2
    tail -n 40 "$log" >&2
    status=1
  fi
done
exit $status
