#!/usr/bin/env bash
# bingfa-cluster against Celery, RQ and Dask on this machine: trivial tasks
# per second and single-task round trips (p50/p99), one client and 2 workers
# on loopback; bingfa also with 1 and 4 workers, and a fire-and-forget list
# queue on the same Redis as the floor. Writes crates/bingfa-cluster/BENCHMARKS.md.
#
#   crates/bingfa-cluster/benches/peers.sh [TASKS] [ROUND_TRIPS]
#
# Needs redis-server (apt-get install redis-server) and python3 with venv;
# makes its own virtual environment (target/bench-venv) and pip-installs
# celery[redis], rq and dask[distributed] into it.
set -euo pipefail
cd "$(dirname "$0")/../../.."
TASKS=${1:-5000}
RTS=${2:-500}
OUT=crates/bingfa-cluster/BENCHMARKS.md
VENV=target/bench-venv
WORK=$(mktemp -d)
trap 'kill $REDIS_PID 2>/dev/null; wait $REDIS_PID 2>/dev/null; rm -rf "$WORK"' EXIT

command -v redis-server >/dev/null || { echo "redis-server not found: apt-get install redis-server" >&2; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check "celery[redis]" rq "dask[distributed]"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$WORK" --appendonly yes --appendfsync everysec \
    --save "" --daemonize no --logfile "$WORK/redis.log" &
REDIS_PID=$!
URL="redis://127.0.0.1:$PORT/"
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

cargo build --release -q -p bingfa-cluster --bin bingfa-cluster
cargo bench -q -p bingfa-cluster --bench throughput -- --redis "$URL" \
    --worker-bin "$PWD/target/release/bingfa-cluster" --tasks "$TASKS" --round-trips "$RTS" \
    --workers 1,2,4 | tee "$WORK/bingfa.tsv"
"$VENV/bin/python" crates/bingfa-cluster/benches/peers.py "$URL" "$TASKS" "$RTS" "$WORK" | tee "$WORK/peers.tsv"

CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
VERSIONS=$("$VENV/bin/python" -c 'import celery, rq, dask, distributed, redis; print(f"Celery {celery.__version__}, RQ {rq.__version__}, Dask {dask.__version__} (distributed {distributed.__version__}), redis-py {redis.__version__}")')
{
    echo "# bingfa-cluster benchmarks"
    echo
    echo "One run of \`crates/bingfa-cluster/benches/peers.sh $TASKS $RTS\` on $(date -u +%Y-%m-%d):"
    echo "$CPU, $(nproc) CPUs (shared with other jobs: expect noise), $(redis-server --version | cut -d' ' -f3),"
    echo "$(rustc --version), commit $(git rev-parse --short HEAD), Python $("$VENV/bin/python" -V | cut -d' ' -f2), $VERSIONS."
    echo
    echo "Trivial tasks (\`x -> x\`), one client, workers on loopback. Throughput: submit $TASKS tasks one by one,"
    echo "wait for every result. Latency: $RTS single tasks in turn, submit to result."
    echo
    echo "| system | tasks/s | round trip p50 (us) | p99 (us) |"
    echo "|---|---:|---:|---:|"
    cat "$WORK/bingfa.tsv" "$WORK/peers.tsv" | awk -F'\t' 'NF==4 {printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4} NF==2 {printf "| %s | %s | | |\n", $1, $2}'
    echo
    B2=$(awk -F'\t' '/bingfa-cluster, 2 workers/ {print $2}' "$WORK/bingfa.tsv")
    L2=$(awk -F'\t' '/bingfa-cluster, 2 workers/ {print $3}' "$WORK/bingfa.tsv")
    echo "bingfa-cluster with 2 workers ($B2 tasks/s, p50 $L2 us) against each:"
    echo
    echo "| system | bingfa's throughput / its | its p50 / bingfa's p50 |"
    echo "|---|---:|---:|"
    cat "$WORK/bingfa.tsv" "$WORK/peers.tsv" | awk -F'\t' -v b="$B2" -v l="$L2" 'NF==4 && $2>0 && $1 !~ /bingfa-cluster, 2 workers/ {printf "| %s | %.2fx | %.2fx |\n", $1, b/$2, $3/l}'
    echo
    echo "How to read it: the fire-and-forget line is a bare Redis list (RPUSH, BLPOP, nothing acked,"
    echo "nothing retried, a task lost with its worker) on the same server: the distance to it is the"
    echo "cost of at-least-once (a consumer group, a start script that records the attempt and tells the"
    echo "client, a finish script that acks, deletes and publishes at once, leases renewed) plus the"
    echo "worker's process pool (each task runs in a separate process). Scaling from 1 to 2 to 4 workers"
    echo "is bounded by the machine: every worker is an agent plus a process, all on the same CPUs as"
    echo "Redis and the client."
} > "$OUT"
echo "wrote $OUT"
