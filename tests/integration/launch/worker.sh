#!/bin/sh
# A worker for launch tests. Usage: worker.sh OUT_DIR [FAIL_RANK FAIL_ATTEMPT EXIT_CODE] [SLEEP_SECONDS [exec]]
# Records its environment and pid as env.<rank>.<attempt> / pid.<rank>.<attempt>; the rank is RANK, or
# "single" for the simple launcher. Without `exec` the sleep runs as the worker's child (its pid in
# child.<rank>.<attempt>), a grandchild of the launcher. Exits EXIT_CODE when it is rank FAIL_RANK on attempt FAIL_ATTEMPT.
out="$1"
rank="${RANK:-single}"
attempt="${TORCHELASTIC_RESTART_COUNT:-0}"
env > "$out/env.$rank.$attempt.tmp" && mv "$out/env.$rank.$attempt.tmp" "$out/env.$rank.$attempt"
echo "worker $rank attempt $attempt args: $*"
if [ "$rank" = "${2:-none}" ] && [ "$attempt" = "${3:-none}" ]; then
  echo "worker $rank failing with $4" >&2
  exit "$4"
fi
if [ -n "${5:-}" ] && [ "${6:-}" = "exec" ]; then
  echo $$ > "$out/pid.$rank.$attempt.tmp" && mv "$out/pid.$rank.$attempt.tmp" "$out/pid.$rank.$attempt"
  exec sleep "$5"
fi
if [ -n "${5:-}" ]; then
  trap 'echo term > "$out/term.$rank"; exit 143' TERM
  echo $$ > "$out/pid.$rank.$attempt.tmp" && mv "$out/pid.$rank.$attempt.tmp" "$out/pid.$rank.$attempt"
  sleep "$5" &
  echo $! > "$out/child.$rank.$attempt.tmp" && mv "$out/child.$rank.$attempt.tmp" "$out/child.$rank.$attempt"
  wait
fi
exit 0
