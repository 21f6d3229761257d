"""Prints what a worker knows about its place in the job: the variables accelctl launch gives it."""
import os

rank = int(os.environ.get("RANK", "0"))
world_size = int(os.environ.get("WORLD_SIZE", "1"))
local_rank = int(os.environ.get("LOCAL_RANK", "0"))
master = f"{os.environ.get('MASTER_ADDR', '-')}:{os.environ.get('MASTER_PORT', '-')}"
print(f"rank {rank} of world size {world_size} (local rank {local_rank}, master {master}, "
      f"restart {os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}, "
      f"cpu {os.environ.get('ACCELERATE_USE_CPU', '-')})", flush=True)
