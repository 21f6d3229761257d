#!/bin/sh
# SLURM Prolog for accel (slurm.conf: Prolog=/usr/share/accel/slurm/prolog.sh, PrologFlags=Alloc).
# Runs as root on every node of a new allocation, before the job's first step:
#   1. makes sure this node's acceld answers (starts it: systemd when it runs, else directly);
#   2. tells it whose job now owns the node and which GPUs it got (`accelctl allocation begin`,
#      from SLURM_JOB_ID, SLURM_JOB_USER, SLURM_JOB_UID, SLURM_JOB_GPUS).
# A non-zero exit makes SLURM drain the node and requeue the job, so only real failures fail.
#
# SLURM gives prologs a minimal environment; settings come from /etc/accel/slurm.env (sh syntax) or,
# for a wrapper script, the environment:
#   ACCEL_BIN_DIR        where accelctl and acceld are (default /usr/bin)
#   ACCEL_AGENT_SOCKET   acceld's unix socket (default /run/accel/acceld.sock)
#   ACCEL_CONFIG         acceld's config when started here (default /etc/accel/acceld.yaml)
#   ACCEL_LOG            its output when started here (default /var/log/accel/acceld.log)
#   ACCEL_PID_FILE       its pid when started here (default /run/accel/acceld.pid)
#   ACCEL_START_TIMEOUT  seconds to wait for it to answer (default 20)
set -u
ACCEL_SLURM_ENV=${ACCEL_SLURM_ENV:-/etc/accel/slurm.env}
# shellcheck disable=SC1090
[ -r "$ACCEL_SLURM_ENV" ] && . "$ACCEL_SLURM_ENV"
ACCEL_BIN_DIR=${ACCEL_BIN_DIR:-/usr/bin}
ACCEL_AGENT_SOCKET=${ACCEL_AGENT_SOCKET:-/run/accel/acceld.sock}
ACCEL_CONFIG=${ACCEL_CONFIG:-/etc/accel/acceld.yaml}
ACCEL_LOG=${ACCEL_LOG:-/var/log/accel/acceld.log}
ACCEL_PID_FILE=${ACCEL_PID_FILE:-/run/accel/acceld.pid}
ACCEL_START_TIMEOUT=${ACCEL_START_TIMEOUT:-20}
PATH="$ACCEL_BIN_DIR:/usr/sbin:/usr/bin:/sbin:/bin"
export PATH
agent="unix:$ACCEL_AGENT_SOCKET"

say() { echo "accel prolog (job ${SLURM_JOB_ID:-?}): $*" >&2; }

if [ -z "${SLURM_JOB_ID:-}" ]; then
  say "SLURM_JOB_ID is not set: not run by slurmd?"
  exit 1
fi

if ! accelctl allocation show --agent "$agent" >/dev/null 2>&1; then
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    say "acceld does not answer on $agent; starting acceld.service"
    systemctl start acceld.service || say "systemctl start acceld.service failed"
  else
    say "acceld does not answer on $agent; starting it ($ACCEL_BIN_DIR/acceld --config $ACCEL_CONFIG)"
    mkdir -p "$(dirname "$ACCEL_LOG")" "$(dirname "$ACCEL_PID_FILE")"
    # A clean environment: acceld outlives this job, so it must not carry its SLURM_JOB_ID (the
    # Epilog stops every process that does). Its own session, so slurmd's cleanup of this script's
    # process group does not reach it; no inherited descriptors, so slurmd does not wait for it.
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
      setsid "$ACCEL_BIN_DIR/acceld" --config "$ACCEL_CONFIG" </dev/null >>"$ACCEL_LOG" 2>&1 &
    echo $! >"$ACCEL_PID_FILE"
  fi
fi

if ! accelctl allocation begin --agent "$agent" --wait "$ACCEL_START_TIMEOUT" >&2; then
  say "could not register the allocation with acceld at $agent"
  exit 1
fi
exit 0
