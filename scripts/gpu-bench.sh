#!/usr/bin/env bash
# gpu-bench.sh: `accelerate launch`, `torchrun`, `accelctl launch` (embedded) and `accelctl launch
# --cluster` (through a real acceld, --role both, on a unix socket in /tmp) side by side on one machine.
#
#   scripts/gpu-bench.sh --bundle DIR [--out DIR] [--python PY] [--procs N] [--exit_procs "1 2"]
#                        [--exit_reps 3] [--train_reps 2] [--steps 32] [--cpu]
#
#   --bundle DIR     accelctl and acceld as made by shared/tools/device-bundle.sh (DIR/run PROGRAM ...);
#                    best with `patchelf --set-rpath '$ORIGIN/../lib' DIR/bin/*` so that no LD_LIBRARY_PATH
#                    reaches the workers; or --bin DIR with plain binaries that run here.
#   --out DIR        results (default $OUT, else ./gpu-bench-out): gpu-bench.md (the tables), results.json,
#                    runs.tsv and every run's log under logs/.
#   --python PY      the interpreter with torch and accelerate (default: /opt/torch/.venv/bin/python if
#                    present, else python3 on PATH). Its folder goes first on PATH, so `accelerate`,
#                    `torchrun` and the workers' `python` are that environment's.
#   --procs N        processes for the training runs (default: the GPU count, at least 1).
#   --exit_procs L   process counts for the immediate-exit script (default: "1 2").
#   --deadline S     start no run after S seconds (default 420), so that one 10-minute device call
#                    always ends with its tables.
#   --cpu            no GPU: every launcher gets --cpu (accelerate then starts one process whatever
#                    --num_processes says) and the training runs on CPUs; for a dry run of this script.
#
# Measured, per launcher, with the launch command's start taken from bash's $EPOCHREALTIME and the
# workers' own time.time() stamps (same clock):
#   (a) examples/exit_at_once.py: time to the first worker's first line, total wall time; launcher
#       overhead = first worker time minus that of `python exit_at_once.py` run directly;
#   (b) examples/train_accelerate.py (bf16, 32 steps, fixed seed): time to first worker, time to the
#       first training step's loss, total, and the loss of every step; the losses under accelctl (and
#       torchrun) must equal those under accelerate launch, bit for bit;
#   (c) restart: the training run with --max_restarts 1 in which rank 0 SIGKILLs itself after step 16:
#       kill -> first worker of the next attempt, kill -> its first step, and the exit code.
# Every worker environment has NCCL_NVLS_ENABLE=0 (NVLink multicast off), exported here.
# Exit status: 0 when the tables were written and every loss check passed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bundle="" bindir="" out="${OUT:-}" python="" procs="" exit_procs="1 2" exit_reps=3 train_reps=2 steps=32 cpu=0
deadline=420
while [ $# -gt 0 ]; do
  case $1 in
    --bundle) bundle=$2; shift 2 ;;
    --bin) bindir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    --procs) procs=$2; shift 2 ;;
    --exit_procs) exit_procs=$2; shift 2 ;;
    --exit_reps) exit_reps=$2; shift 2 ;;
    --train_reps) train_reps=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --cpu) cpu=1; shift ;;
    --deadline) deadline=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out=$PWD/gpu-bench-out
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)

if [ -n "$bundle" ]; then
  bundle=$(cd "$bundle" && pwd)
  if ldd "$bundle/bin/accelctl" 2>&1 | grep -q 'not found'; then
    # Through the bundle's wrapper: LD_LIBRARY_PATH=<bundle>/lib, which the workers then inherit.
    accelctl=("$bundle/run" accelctl)
    acceld=("$bundle/run" acceld)
  else
    # Binaries with RUNPATH $ORIGIN/../lib (patchelf): the workers' environment stays the same as
    # under the other launchers.
    accelctl=("$bundle/bin/accelctl")
    acceld=("$bundle/bin/acceld")
  fi
elif [ -n "$bindir" ]; then
  bindir=$(cd "$bindir" && pwd)
  accelctl=("$bindir/accelctl")
  acceld=("$bindir/acceld")
else
  echo "gpu-bench.sh: --bundle DIR or --bin DIR is required" >&2
  exit 2
fi
if [ -z "$python" ]; then
  if [ -x /opt/torch/.venv/bin/python ]; then python=/opt/torch/.venv/bin/python; else python=$(command -v python3); fi
fi
export PATH="$(dirname "$python"):$PATH"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
scratch=$(mktemp -d /tmp/accel-gpubench-XXXXXX)
export HF_HOME=$scratch/hf  # No config file of this machine's: every launcher gets its flags only.
export TMPDIR=$scratch
exit_script=$root/examples/exit_at_once.py
train_script=$root/examples/train_accelerate.py

gpus=0
if [ $cpu = 0 ] && command -v nvidia-smi >/dev/null; then gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU'); fi
[ -n "$procs" ] || procs=$((gpus > 0 ? gpus : 1))
has_torch=0; has_accelerate=0; has_torchrun=0
"$python" -c 'import torch, accelerate' 2>/dev/null && has_torch=1
command -v accelerate >/dev/null && [ $has_torch = 1 ] && has_accelerate=1
command -v torchrun >/dev/null && [ $has_torch = 1 ] && has_torchrun=1

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "host: $(uname -n), $(uname -sr), $(nproc) CPUs, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  [ -r /etc/os-release ] && echo "os: $(. /etc/os-release; echo "$PRETTY_NAME")"
  echo "gpus: $gpus"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /'
  echo "python: $python ($("$python" --version 2>&1))"
  [ $has_torch = 1 ] && "$python" -c 'import torch, accelerate; print("torch:", torch.__version__, "cuda", torch.version.cuda, "nccl", ".".join(map(str, torch.cuda.nccl.version())) if torch.cuda.is_available() else "-"); print("accelerate:", accelerate.__version__)' 2>&1
  echo "accelerate: $(command -v accelerate || echo missing)"
  echo "torchrun: $(command -v torchrun || echo missing)"
  echo "accelctl: $("${accelctl[@]}" --version 2>&1 | head -1)"
  echo "procs: training $procs, immediate exit: $exit_procs; cpu mode: $cpu"
  echo "env: NCCL_NVLS_ENABLE=$NCCL_NVLS_ENABLE TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1"
} >"$out/machine.txt"
cat "$out/machine.txt"

# --- acceld (role both) on a unix socket ------------------------------------------------------------
sock=$scratch/acceld/acceld.sock
mkdir -p "$scratch/acceld"
"${acceld[@]}" --role both --node_name gpubench --listen "unix:$sock" --state_dir "$scratch/acceld/state" \
  --log_root "$scratch/acceld/logs" >"$out/logs/acceld.log" 2>&1 &
acceld_pid=$!
cleanup() {
  kill "$acceld_pid" 2>/dev/null
  wait "$acceld_pid" 2>/dev/null
  rm -rf "$scratch"
}
trap cleanup EXIT
cluster_ok=0
for _ in $(seq 1 200); do
  if [ -S "$sock" ] && "${accelctl[@]}" nodes --cluster "unix:$sock" 2>/dev/null | grep -q gpubench; then cluster_ok=1; break; fi
  kill -0 "$acceld_pid" 2>/dev/null || break
  sleep 0.05
done
"${accelctl[@]}" nodes --cluster "unix:$sock" >"$out/logs/nodes.txt" 2>&1
[ $cluster_ok = 1 ] || echo "gpu-bench.sh: acceld did not come up; the --cluster column will fail (logs/acceld.log)" >&2

# --- the launch lines ---------------------------------------------------------------------------------
# launcher_cmd LAUNCHER NPROC MIXED RESTARTS -> the array `cmd` (the script and its arguments follow).
launcher_cmd() {
  local launcher=$1 n=$2 mixed=$3 restarts=$4
  local common=(--num_processes "$n" --num_machines 1 --mixed_precision "$mixed" --dynamo_backend no)
  [ $cpu = 1 ] && common+=(--cpu)
  [ $cpu = 0 ] && [ "$n" -gt 1 ] && common+=(--multi_gpu)
  [ "$restarts" -gt 0 ] && common+=(--max_restarts "$restarts")
  case $launcher in
    python) cmd=("$python") ;;
    accelerate) cmd=(accelerate launch "${common[@]}") ;;
    torchrun) cmd=(torchrun --nproc_per_node "$n"); [ "$restarts" -gt 0 ] && cmd+=(--max_restarts "$restarts") ;;
    accelctl) cmd=("${accelctl[@]}" launch "${common[@]}") ;;
    cluster) cmd=("${accelctl[@]}" launch --cluster "unix:$sock" "${common[@]}") ;;
  esac
}
available() {
  case $1 in
    accelerate) [ $has_accelerate = 1 ] ;;
    torchrun) [ $has_torchrun = 1 ] && [ $cpu = 0 ] ;;  # torchrun has no --cpu: its workers would pick the GPU path
    cluster) [ $cluster_ok = 1 ] ;;
    *) true ;;
  esac
}

printf 'label\tlauncher\tkind\tprocs\trep\tt0\tt1\trc\tlog\tcommand\n' >"$out/runs.tsv"
# stall_report LABEL: the process tree, acceld's threads (where each waits) and the tail of its log.
stall_report() {
  local report=$out/logs/$1.stall.txt
  echo "gpu-bench.sh: $1 is still running; state in logs/$1.stall.txt" >&2
  {
    echo "== processes"
    ps -eo pid,ppid,pgid,sid,stat,wchan:32,etime,args --forest | grep -v ' \[' | cut -c1-300
    if [ -n "${acceld_pid:-}" ]; then
      echo "== acceld threads (tid comm wchan, then the kernel stack where readable)"
      for task in /proc/"$acceld_pid"/task/*; do
        echo "$(basename "$task") $(cat "$task/comm") $(cat "$task/wchan")"
        cat "$task/stack" 2>/dev/null
      done
      echo "== acceld.log (last 60 lines)"
      tail -60 "$out/logs/acceld.log"
    fi
  } >"$report" 2>&1
}

# run LABEL LAUNCHER KIND NPROC REP -- COMMAND...
script_start=$SECONDS
run() {
  local label=$1 launcher=$2 kind=$3 n=$4 rep=$5; shift 6
  local log=$out/logs/$label.log
  if [ $((SECONDS - script_start)) -gt "$deadline" ]; then
    echo "gpu-bench.sh: past the ${deadline} s deadline, $label skipped" >&2
    return
  fi
  local limit=180
  [ "$kind" = exit ] && limit=60
  echo "[$(date -u +%H:%M:%S)] $label: $*" >&2
  local t0 t1 rc watchdog
  # A run still going after `limit` seconds is recorded as it stands (logs/LABEL.stall.txt) before it
  # is killed 10 s later: a sleeping background shell, so the timing is untouched.
  (
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    sleep "$limit" </dev/null >/dev/null 2>&1 &
    sleeper=$!
    wait "$sleeper" && stall_report "$label"
  ) &
  watchdog=$!
  t0=$EPOCHREALTIME
  timeout -k 5 $((limit + 10)) "$@" >"$log" 2>&1 </dev/null
  rc=$?
  t1=$EPOCHREALTIME
  kill "$watchdog" 2>/dev/null
  wait "$watchdog" 2>/dev/null
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$launcher" "$kind" "$n" "$rep" "$t0" "$t1" "$rc" \
    "logs/$label.log" "$*" >>"$out/runs.tsv"
  echo "    exit $rc, $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}') s" >&2
}

# Warm-up, not timed: the page cache for python, torch and accelerate, and the bundle.
"$python" -c 'import torch, accelerate' >/dev/null 2>&1
"$python" "$exit_script" >/dev/null 2>&1
"${accelctl[@]}" --version >/dev/null 2>&1

launchers=(python accelerate torchrun accelctl cluster)

# (a) a script that exits at once
for n in $exit_procs; do
  for rep in $(seq 1 "$exit_reps"); do
    for launcher in "${launchers[@]}"; do
      available "$launcher" || continue
      [ "$launcher" = python ] && [ "$n" -gt 1 ] && continue
      [ $cpu = 1 ] && [ "$launcher" = accelerate ] && [ "$n" -gt 1 ] && continue  # it would start one
      launcher_cmd "$launcher" "$n" no 0
      run "exit-$launcher-n$n-r$rep" "$launcher" exit "$n" "$rep" -- "${cmd[@]}" "$exit_script"
    done
  done
done

# (b) the training example, and (c) a restart after rank 0 is killed mid-training
train_args=(--steps "$steps")
[ $cpu = 1 ] && train_args+=(--cpu)
train_launchers=("${launchers[@]}")
[ "$procs" -gt 1 ] && train_launchers=(accelerate torchrun accelctl cluster)
if [ $has_torch = 1 ]; then
  for rep in $(seq 1 "$train_reps"); do
    for launcher in "${train_launchers[@]}"; do
      available "$launcher" || continue
      [ $cpu = 1 ] && [ "$launcher" = accelerate ] && [ "$procs" -gt 1 ] && continue
      launcher_cmd "$launcher" "$procs" bf16 0
      run "train-$launcher-n$procs-r$rep" "$launcher" train "$procs" "$rep" -- "${cmd[@]}" "$train_script" "${train_args[@]}"
    done
  done
  for launcher in accelerate torchrun accelctl cluster; do
    available "$launcher" || continue
    [ $cpu = 1 ] && [ "$launcher" = accelerate ] && [ "$procs" -gt 1 ] && continue
    launcher_cmd "$launcher" "$procs" bf16 1
    run "restart-$launcher-n$procs" "$launcher" restart "$procs" 1 -- "${cmd[@]}" "$train_script" "${train_args[@]}" \
      --kill_at_step $((steps / 2)) --kill_marker "$scratch/killed-$launcher"
  done
else
  echo "gpu-bench.sh: $python has no torch/accelerate: training runs skipped" >&2
fi

# --- tables -----------------------------------------------------------------------------------------
"$python" - "$out" "$steps" <<'PY'
import csv, json, os, re, statistics, sys

out, steps = sys.argv[1], int(sys.argv[2])
runs = list(csv.DictReader(open(os.path.join(out, "runs.tsv")), delimiter="\t"))
START = re.compile(r"worker_start rank=(\d+) pid=(\d+) restart=(\d+) t=([\d.]+)")
STEP = re.compile(r"step (\d+) loss (\S+) t=([\d.]+)")
KILL = re.compile(r"kill rank=\d+ step=(\d+) t=([\d.]+)")
DONE = re.compile(r"done steps=(\d+) t=([\d.]+)")

for r in runs:
    t0, t1 = float(r["t0"]), float(r["t1"])
    r["rc"] = int(r["rc"])
    r["total"] = t1 - t0
    starts, losses, step_times, kill, done = [], [], [], None, None
    after_kill_starts, after_kill_losses, after_kill_times = [], [], []
    for line in open(os.path.join(out, r["log"]), errors="replace"):
        if m := KILL.search(line):
            kill = float(m.group(2))
        elif m := START.search(line):
            (after_kill_starts if kill else starts).append(float(m.group(4)))
        elif m := STEP.search(line):
            (after_kill_losses if kill else losses).append(m.group(2))
            (after_kill_times if kill else step_times).append(float(m.group(3)))
        elif m := DONE.search(line):
            done = float(m.group(2))
    r["first_worker"] = min(starts) - t0 if starts else None
    r["workers_seen"] = len(starts)
    r["first_step"] = step_times[0] - t0 if step_times else None
    r["losses"] = losses
    if r["kind"] == "restart":
        r["kill_to_worker"] = min(after_kill_starts) - kill if kill and after_kill_starts else None
        r["kill_to_step"] = after_kill_times[0] - kill if kill and after_kill_times else None
        r["kill_at"] = kill - t0 if kill else None
        r["losses_after_restart"] = after_kill_losses
    r["done"] = done is not None

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def fmt(v, unit="s", digits=3):
    return "-" if v is None else f"{v:.{digits}f} {unit}".strip()

names = {"python": "`python` (no launcher)", "accelerate": "`accelerate launch`", "torchrun": "`torchrun`",
         "accelctl": "`accelctl launch`", "cluster": "`accelctl launch --cluster` (acceld)"}
md = ["# gpu-bench", "", "```", open(os.path.join(out, "machine.txt")).read().rstrip(), "```", ""]
ok = True
results = {"runs": runs}

# (a)
md += ["## (a) a script that exits at once (`examples/exit_at_once.py`)", "",
       "Medians over the runs; first worker = launch command typed -> first worker's first line (its own "
       "`time.time()` before any import); overhead = that minus the same for `python exit_at_once.py`.", "",
       "| launcher | processes | runs (ok) | first worker | total wall | launcher overhead | torchrun's overhead / this | accelerate's overhead / this |",
       "|---|---:|---:|---:|---:|---:|---:|---:|"]
exit_runs = [r for r in runs if r["kind"] == "exit"]
base = med([r["first_worker"] for r in exit_runs if r["launcher"] == "python" and r["rc"] == 0])
rows_a, overhead = [], {}
for n in sorted({int(r["procs"]) for r in exit_runs}):
    for launcher in names:
        rs = [r for r in exit_runs if r["launcher"] == launcher and int(r["procs"]) == n]
        if not rs:
            continue
        good = [r for r in rs if r["rc"] == 0 and r["workers_seen"] == n]
        fw, total = med([r["first_worker"] for r in good]), med([r["total"] for r in good])
        overhead[(launcher, n)] = fw - base if fw is not None and base is not None and launcher != "python" else None
        rows_a.append((launcher, n, rs, good, fw, total))
summary_a = {}
for launcher, n, rs, good, fw, total in rows_a:
    mine = overhead[(launcher, n)]
    ratios = []
    for other in ("torchrun", "accelerate"):
        theirs = overhead.get((other, n))
        if launcher in ("accelctl", "cluster") and mine is not None and theirs is not None:
            # Below 1 ms the difference to bare python is within the noise of the stamps: a floor.
            ratios.append(f"{theirs / mine:.0f}x" if mine >= 1e-3 else f">= {theirs / 1e-3:.0f}x (ours < 1 ms)")
        else:
            ratios.append("-")
    summary_a[f"{launcher}-n{n}"] = {"first_worker": fw, "total": total, "overhead": mine, "runs": len(rs), "ok": len(good)}
    md.append(f"| {names[launcher]} | {n} | {len(rs)} ({len(good)}) | {fmt(fw)} | {fmt(total)} | {fmt(mine)} | "
              f"{ratios[0]} | {ratios[1]} |" + (" some runs failed: see runs.tsv" if len(good) != len(rs) else ""))
results["exit"] = summary_a
md.append("")

# (b)
train = [r for r in runs if r["kind"] == "train"]
reference = next((r["losses"] for r in train if r["launcher"] == "accelerate" and r["rc"] == 0 and len(r["losses"]) == steps), None)
if reference is None:
    reference = next((r["losses"] for r in train if r["rc"] == 0 and len(r["losses"]) == steps), None)
    ref_name = "the first complete run (no accelerate launch run completed)"
else:
    ref_name = "the first `accelerate launch` run"
if train:
    md += ["## (b) training (`examples/train_accelerate.py`, bf16, fixed seed)", "",
           f"Medians; first step = launch command typed -> step 0's loss printed. Losses compared with {ref_name}, "
           "all steps, as printed (`repr` of the float).", "",
           "| launcher | processes | runs (ok) | first worker | first training step | total wall | losses identical |",
           "|---|---:|---:|---:|---:|---:|---|"]
    for launcher in names:
        rs = [r for r in train if r["launcher"] == launcher]
        if not rs:
            continue
        good = [r for r in rs if r["rc"] == 0 and len(r["losses"]) == steps]
        same = [r["losses"] == reference for r in good]
        if launcher != "python" and (not good or not all(same)):
            ok = False
        verdict = ("yes, all " + str(len(good)) + " runs" if good and all(same) else
                   f"NO ({sum(same)} of {len(good)} equal)" if good else "no complete run")
        md.append(f"| {names[launcher]} | {rs[0]['procs']} | {len(rs)} ({len(good)}) | {fmt(med([r['first_worker'] for r in good]))} | "
                  f"{fmt(med([r['first_step'] for r in good]))} | {fmt(med([r['total'] for r in good]))} | {verdict} |")
    fs = {l: med([r["first_step"] for r in train if r["launcher"] == l and r["rc"] == 0]) for l in names}
    if fs.get("accelctl") and fs.get("torchrun") and fs.get("accelerate"):
        md += ["", f"First training step: `accelctl launch` {fs['accelctl']:.2f} s, `torchrun` {fs['torchrun']:.2f} s "
               f"({fs['torchrun'] - fs['accelctl']:.2f} s later), `accelerate launch` {fs['accelerate']:.2f} s "
               f"({fs['accelerate'] - fs['accelctl']:.2f} s later)."]
    md += ["", "Loss per step:", "",
           "| step | " + " | ".join(names[l] for l in names if any(r["launcher"] == l for r in train)) + " |",
           "|---:|" + "---|" * sum(1 for l in names if any(r["launcher"] == l for r in train))]
    firsts = {l: next((r["losses"] for r in train if r["launcher"] == l and r["rc"] == 0), []) for l in names}
    for s in range(steps):
        cells = [firsts[l][s] if s < len(firsts[l]) else "-" for l in names if any(r["launcher"] == l for r in train)]
        md.append(f"| {s} | " + " | ".join(cells) + " |")
    md.append("")

# (c)
restart = [r for r in runs if r["kind"] == "restart"]
if restart:
    md += ["## (c) restart: rank 0 SIGKILLs itself after step %d, `--max_restarts 1`" % (steps // 2), "",
           "kill = the worker's own stamp just before `os.kill(getpid(), SIGKILL)`; the next attempt trains all "
           f"{steps} steps again (no checkpoint), and its losses are compared with the reference.", "",
           "| launcher | exit code | kill at | kill -> first worker of attempt 1 | kill -> its first step | total wall | losses of attempt 1 identical |",
           "|---|---:|---:|---:|---:|---:|---|"]
    for r in restart:
        same = r.get("losses_after_restart") == reference and len(r.get("losses_after_restart") or []) == steps
        note = "yes" if same else ("no restart" if not r.get("losses_after_restart") else "NO")
        md.append(f"| {names[r['launcher']]} | {r['rc']} | {fmt(r.get('kill_at'))} | {fmt(r.get('kill_to_worker'))} | "
                  f"{fmt(r.get('kill_to_step'))} | {fmt(r['total'])} | {note} |")
        if r["launcher"] in ("accelctl", "cluster") and (r["rc"] != 0 or not same):
            ok = False
    md.append("")

md += ["## Command lines", "", "```"] + [f"{r['label']}: {r['command']}" for r in runs] + ["```", ""]
open(os.path.join(out, "gpu-bench.md"), "w").write("\n".join(md))
json.dump(results, open(os.path.join(out, "results.json"), "w"), indent=1, default=str)
print("\n".join(md))
sys.exit(0 if ok else 1)
PY
