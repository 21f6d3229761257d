#!/usr/bin/env bash
# make-gpu-bundle.sh: the programs that scripts/gpu-bench.sh and tests/bench/run_benchmarks.sh run on the
# GPU machine, with the shared libraries they need (../shared/tools/device-bundle.sh), stripped, and with
# RPATHs set so that they run without LD_LIBRARY_PATH (which would otherwise reach every worker).
#
#   scripts/make-gpu-bundle.sh [--build DIR] [--out DIR] [--bundler PATH]
#
#   --build DIR    a build tree of this checkout (default build-bench if it has bin/accelctl, else build)
#   --out DIR      the bundle (default DIR-of-build/device-bundle); emptied first
#   --bundler PATH device-bundle.sh (default ../shared/tools/device-bundle.sh beside the checkout)
#
# The bundle holds bin/{accelctl,accelctl-cluster,acceld} and, when built, the bench programs; carry it
# with the device tool (carry: ["<out>"]).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="" out="" bundler="$root/../shared/tools/device-bundle.sh"
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --bundler) bundler=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "make-gpu-bundle.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$build" ]; then
  if [ -x "$root/build-bench/bin/accelctl" ]; then build=$root/build-bench; else build=$root/build; fi
fi
[ -n "$out" ] || out=$build/device-bundle
command -v patchelf >/dev/null || { echo "make-gpu-bundle.sh: patchelf is required (apt-get install patchelf)" >&2; exit 2; }
[ -x "$bundler" ] || { echo "make-gpu-bundle.sh: no device-bundle.sh at $bundler (use --bundler)" >&2; exit 2; }

programs=()
for name in accelctl accelctl-cluster acceld launch_overhead_bench bench_worker log_tee_bench coordinator_bench \
            metrics_bench estimate_memory_bench; do
  if [ -x "$build/bin/$name" ]; then
    programs+=("$build/bin/$name")
  elif [ "$name" = accelctl ] || [ "$name" = accelctl-cluster ] || [ "$name" = acceld ]; then
    echo "make-gpu-bundle.sh: $build/bin/$name is not built" >&2
    exit 2
  fi
done
rm -rf "$out"
"$bundler" "$out" "${programs[@]}"
strip "$out"/bin/*
patchelf --force-rpath --set-rpath '$ORIGIN/../lib' "$out"/bin/*
for library in "$out"/lib/*; do patchelf --set-rpath '$ORIGIN' "$library"; done
du -sh "$out" | awk '{print "bundle: " $2 " (" $1 ")"}'
