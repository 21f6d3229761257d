"""A worker that exits at once: measures what a launcher costs before the first line of user code.

Prints one line, `worker_start rank=R pid=P restart=N t=<epoch seconds>`, taken before any import
beyond `os` and `time`, and exits 0. scripts/gpu-bench.sh compares that time with the moment the
launch command was typed.
"""
import time

T_START = time.time()

import os  # noqa: E402

print(f"worker_start rank={os.environ.get('RANK', '0')} pid={os.getpid()} "
      f"restart={os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')} t={T_START:.6f}", flush=True)
