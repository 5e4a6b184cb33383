#!/bin/sh
# Instructions per operation of each workload of benches/instr.rs, counted
# by valgrind's cachegrind (independent of the machine's load): two runs,
# N = 2M and N = M, and the difference over M.
#
#   crates/bingfa-green/benches/count.sh [WORKLOAD[:M] ...]
#
# Builds the bench first. Default: every workload.
set -eu
cd "$(dirname "$0")/../../.."
bin=$(cargo bench -p bingfa-green --bench instr --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*instr[^"]*\)".*/\1/p' | tail -1)
[ -n "$bin" ] || { echo "could not build benches/instr.rs" >&2; exit 1; }
count() {
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        "$bin" "$1" "$2" 2>&1 | sed -n 's/.*I *refs: *//p' | tr -d ,
}
set -- ${@:-spawn-join:100000 tokio-spawn-join:100000 spawn-mass:100000 \
    tokio-spawn-mass:100000 yield:1000000 spawn-idle:10000}
for spec in "$@"; do
    w=${spec%%:*}
    m=${spec#*:}
    [ "$m" = "$spec" ] && m=100000
    a=$(count "$w" "$m")
    b=$(count "$w" $((m * 2)))
    echo "$w: $(( (b - a) / m )) instructions each (M = $m)"
done
