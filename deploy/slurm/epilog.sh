#!/bin/sh
# SLURM Epilog for accel (slurm.conf: Epilog=/usr/share/accel/slurm/epilog.sh). Runs as root on every
# node of an ending allocation, after SLURM has stopped the job's steps:
#   1. acceld stops every accel group of the allocation (started while it owned the node, or
#      submitted from inside it) and forgets the allocation;
#   2. every process still carrying SLURM_JOB_ID=<this job> (workers started by `srun accelctl
#      launch` that escaped the step, their children) gets SIGTERM, a grace period, then SIGKILL;
#   3. a last scan confirms none is left. If one survives, the exit is non-zero and SLURM drains the
#      node: a node with a stuck worker (GPU memory held) must not take the next job.
# Settings: as for prolog.sh (/etc/accel/slurm.env), plus ACCEL_EPILOG_GRACE (seconds, default 5).
set -u
ACCEL_SLURM_ENV=${ACCEL_SLURM_ENV:-/etc/accel/slurm.env}
# shellcheck disable=SC1090
[ -r "$ACCEL_SLURM_ENV" ] && . "$ACCEL_SLURM_ENV"
ACCEL_BIN_DIR=${ACCEL_BIN_DIR:-/usr/bin}
ACCEL_AGENT_SOCKET=${ACCEL_AGENT_SOCKET:-/run/accel/acceld.sock}
ACCEL_EPILOG_GRACE=${ACCEL_EPILOG_GRACE:-5}
PATH="$ACCEL_BIN_DIR:/usr/sbin:/usr/bin:/sbin:/bin"
export PATH

if [ -z "${SLURM_JOB_ID:-}" ]; then
  echo "accel epilog: SLURM_JOB_ID is not set: not run by slurmd?" >&2
  exit 1
fi
# Sweeps even when acceld is down (it then only warns about that).
exec accelctl allocation end --agent "unix:$ACCEL_AGENT_SOCKET" --job "$SLURM_JOB_ID" \
  --grace "$ACCEL_EPILOG_GRACE" --wait 2 >&2
