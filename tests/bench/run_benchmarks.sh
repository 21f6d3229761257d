#!/usr/bin/env bash
# Runs every launcher benchmark of tests/bench/ and prints ONE markdown table: each row is what accel
# measures beside a baseline measured in the same run, on the same machine.
#
#   tests/bench/run_benchmarks.sh [--bin DIR] [--quick] [--out FILE]
#
#   --bin DIR   the folder with accelctl, acceld and the bench binaries (default: build-bench/bin, else
#               build/bin, of this checkout). Build with -DCMAKE_BUILD_TYPE=Release for real numbers.
#   --quick     tiny sizes (a few seconds in all): the ctest smoke test `bench.runner_smoke` uses it so
#               the benchmarks keep working; its numbers mean nothing.
#   --out FILE  also write the table to FILE.
#
# Rows:
#   launch       `accelctl launch --cpu --num_processes N --no_python bench_worker` typed -> all N workers
#                running (each signals through a FIFO), 1/8/64 workers, and LocalAgent in-process;
#                baseline: a bare fork/execve loop of the same workers (launch_overhead_bench).
#   restart      8 workers, rank 0 exits 1 -> all 8 of attempt 1 running, minus the time the old group
#                needed to die; baseline: a bare fork/exec of 8 (launch_overhead_bench).
#   log tee      8 workers writing numbered lines as fast as they can: MB/s through --tee 3 / --redirects 3,
#                baseline plain redirection to files; every line read back (log_tee_bench).
#   acceld idle  a real `acceld --role both` on a unix socket in a temp folder (it registers with its own
#                coordinator and heartbeats), resident memory and CPU over a window after it settled;
#                baseline: an idle `python3` interpreter sampled in the same window (the floor of any
#                Python launcher: torchrun's agent and accelerate launch also import torch).
#   metrics      scrape time of /metrics with 1,000 worker series: the metrics work's own benchmark
#                (metrics_bench) when it is built, its p50s as rows; else "n/a (metrics not built)".
#   rendezvous / submit  submit a job needing all N in-process agents over loopback gRPC -> placement /
#                all running, 8 to 1,024 agents; baseline: one gRPC call to every agent at once
#                (coordinator_bench).
#
# Exit status: 0 when every benchmark ran and every check passed (no line lost or cut); timings are
# never pass/fail.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=""
quick=0
out=""
while [ $# -gt 0 ]; do
  case $1 in
    --bin) bin=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_benchmarks.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$bin" ]; then
  for candidate in "$root/build-bench/bin" "$root/build/bin"; do
    [ -x "$candidate/launch_overhead_bench" ] && { bin=$candidate; break; }
  done
fi
[ -n "$bin" ] && [ -x "$bin/launch_overhead_bench" ] || { echo "run_benchmarks.sh: no bench binaries (use --bin DIR)" >&2; exit 2; }
bin=$(cd "$bin" && pwd)

if [ $quick = 1 ]; then
  launch_args=(--reps 1 --workers 1,8)
  tee_args=(--seconds 0.3 --rounds 1)
  idle_settle=0.5 idle_window=1
  coord_args=(--sizes 8 --runs 2)
else
  launch_args=(--reps 15 --workers 1,8,64)
  tee_args=(--seconds 3)
  idle_settle=3 idle_window=5
  coord_args=(--sizes 8,64,256,1024)
fi

scratch=$(mktemp -d /tmp/accel_run_benchmarks_XXXXXX)
rows=$scratch/rows
: >"$rows"
failed=0
pids_to_stop=()
cleanup() {
  for pid in "${pids_to_stop[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  rm -rf "$scratch"
}
trap cleanup EXIT

# Runs one benchmark; keeps its ROW lines; reports it as failed (and a row saying so) when it fails.
run_rows() {
  local name=$1; shift
  local log=$scratch/$name.log
  echo "running $name: $*" >&2
  if "$@" >"$log" 2>"$scratch/$name.err"; then
    grep $'^ROW\t' "$log" >>"$rows"
  else
    failed=1
    grep $'^ROW\t' "$log" >>"$rows"
    printf 'ROW\t%s\tFAILED\t-\t-\t-\t%s\n' "$name" "$(tail -n 3 "$scratch/$name.err" | tr '\t\n' '  ')" >>"$rows"
    cat "$scratch/$name.err" >&2
  fi
}

# --- launch, restart -------------------------------------------------------------------------------
run_rows launch_overhead_bench "$bin/launch_overhead_bench" --rows "${launch_args[@]}"

# --- log tee ----------------------------------------------------------------------------------------
run_rows log_tee_bench "$bin/log_tee_bench" --rows "${tee_args[@]}"

# --- acceld idle ------------------------------------------------------------------------------------
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }       # utime + stime of the process, all threads
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
idle_row() {
  local sock=$scratch/acceld/acceld.sock
  mkdir -p "$scratch/acceld"
  "$bin/acceld" --role both --node_name bench --listen "unix:$sock" --state_dir "$scratch/acceld/state" \
    --log_root "$scratch/acceld/logs" >"$scratch/acceld/out" 2>&1 &
  local acceld=$!
  pids_to_stop+=("$acceld")
  python3 -c 'import time; time.sleep(3600)' &
  local python=$!
  pids_to_stop+=("$python")
  local waited=0
  until [ -S "$sock" ]; do
    sleep 0.05
    waited=$((waited + 1))
    if [ $waited -gt 200 ] || ! kill -0 "$acceld" 2>/dev/null; then
      failed=1
      printf 'ROW\tacceld idle\tFAILED\t-\t-\t-\tacceld did not start: %s\n' "$(tail -n 2 "$scratch/acceld/out" | tr '\t\n' '  ')" >>"$rows"
      return
    fi
  done
  sleep "$idle_settle"
  local hz a0 p0 a1 p1 arss prss threads
  hz=$(getconf CLK_TCK)
  a0=$(ticks "$acceld"); p0=$(ticks "$python")
  sleep "$idle_window"
  a1=$(ticks "$acceld"); p1=$(ticks "$python")
  arss=$(rss_kb "$acceld"); prss=$(rss_kb "$python")
  threads=$(awk '/^Threads:/{print $2}' "/proc/$acceld/status")
  local nodes
  nodes=$("$bin/accelctl" nodes --cluster "unix:$sock" 2>&1 | grep -c bench || true)
  awk -v a="$arss" -v p="$prss" -v t="$threads" -v n="$nodes" 'BEGIN {
    printf "ROW\tacceld idle (--role both, unix socket): resident memory\t%.1f\t%.1f\tidle python3\tMiB\t%d threads; node registered: %s\n",
           a / 1024, p / 1024, t, (n > 0 ? "yes" : "NO") }' >>"$rows"
  awk -v a=$((a1 - a0)) -v p=$((p1 - p0)) -v hz="$hz" -v w="$idle_window" 'BEGIN {
    printf "ROW\tacceld idle: CPU over %s s after %s s\t%.2f\t%.2f\tidle python3\t%% of one core\t%d vs %d ticks of 1/%d s\n",
           w, "'"$idle_settle"'", 100 * a / hz / w, 100 * p / hz / w, a, p, hz }' >>"$rows"
  [ "$nodes" -gt 0 ] || failed=1
  kill "$acceld" "$python" 2>/dev/null
  wait "$acceld" "$python" 2>/dev/null
}
echo "running acceld idle: ${idle_settle} s settle, ${idle_window} s window" >&2
idle_row

# --- metrics scrape ---------------------------------------------------------------------------------
# Owned by the metrics work (agent/metrics, daemon/): its benchmark, metrics_bench [--quick], prints a
# table "NAME p50 p99 max bytes" for 1,000 workers; its rows are taken as they are, never re-implemented.
metrics_bench=""
for name in metrics_bench metrics_scrape_bench; do
  [ -x "$bin/$name" ] && { metrics_bench=$bin/$name; break; }
done
if [ -n "$metrics_bench" ]; then
  metrics_args=()
  [ $quick = 1 ] && metrics_args=(--quick)
  echo "running metrics_bench: $metrics_bench ${metrics_args[*]}" >&2
  if "$metrics_bench" "${metrics_args[@]}" >"$scratch/metrics.log" 2>"$scratch/metrics.err"; then
    awk '
      /^series:/ { series = $2; sub(";", "", series) }
      /^Collect \+ RenderText/ { ours = $(NF-3); p99 = $(NF-2); bytes = $NF }
      /^Collect \+ prometheus-cpp TextSerializer/ { prom = $(NF-3) }
      /^HTTP GET \/metrics/ { http = $(NF-3); http99 = $(NF-2) }
      END {
        if (ours == "" || http == "") { print "ROW\tmetrics scrape, 1,000 workers\tFAILED\t-\t-\t-\tunexpected metrics_bench output"; exit }
        printf "ROW\tmetrics render, 1,000 workers (%s series): Collect + RenderText\t%s\t%s\tprometheus-cpp TextSerializer\tms\tp50; p99 %s; %s bytes\n", series, ours, prom, p99, bytes
        printf "ROW\tmetrics scrape, 1,000 workers: HTTP GET /metrics on loopback (whole node)\t%s\t-\t-\tms\tp50; p99 %s; target < 5 ms\n", http, http99
      }' "$scratch/metrics.log" >>"$rows"
  else
    failed=1
    printf 'ROW\tmetrics scrape, 1,000 workers\tFAILED\t-\t-\t-\t%s\n' "$(tail -n 2 "$scratch/metrics.err" | tr '\t\n' '  ')" >>"$rows"
  fi
else
  printf 'ROW\tmetrics scrape, 1,000 worker series\tn/a (metrics not built)\t-\t-\t-\tno metrics_bench in %s\n' "$bin" >>"$rows"
fi

# --- rendezvous and submit --------------------------------------------------------------------------
run_rows coordinator_bench "$bin/coordinator_bench" --rows "${coord_args[@]}"

# --- the table --------------------------------------------------------------------------------------
table=$scratch/table.md
{
  printf '%s, %s CPUs, %s%s\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" "$(uname -sr)" \
    "$([ $quick = 1 ] && echo ', --quick (sizes too small to mean anything)')"
  echo '| benchmark | ours | baseline | baseline is | unit | ours / baseline | check / notes |'
  echo '|---|---:|---:|---|---|---:|---|'
  awk -F'\t' '{
    ratio = "-"
    if ($3 ~ /^[0-9.]+$/ && $4 ~ /^[0-9.]+$/ && $4 + 0 > 0) ratio = sprintf("%.2f", $3 / $4)
    printf "| %s | %s | %s | %s | %s | %s | %s |\n", $2, $3, $4, $5, $6, ratio, $7
  }' "$rows"
} >"$table"
cat "$table"
[ -n "$out" ] && cp "$table" "$out"
if grep -q 'FAILED' "$rows"; then failed=1; fi
[ $failed = 0 ] && echo "run_benchmarks.sh: every benchmark ran, every check passed" >&2
exit $failed
