"""A real, small training run with Hugging Face Accelerate: Accelerator, DDP, bf16, fixed seed.

Runs unchanged under `accelerate launch`, `torchrun` and `accelctl launch` (embedded or --cluster):

    accelerate launch --multi_gpu --num_processes 2 examples/train_accelerate.py
    torchrun --nproc_per_node 2 examples/train_accelerate.py
    accelctl launch --multi_gpu --num_processes 2 examples/train_accelerate.py
    accelctl launch --cpu --num_processes 2 examples/train_accelerate.py --cpu     # Gloo, on CPUs

A 4-layer MLP (about 3.2 M parameters) learns a fixed random "teacher" on synthetic data, generated from
the seed, so every launcher and every run sees the same batches. The DataLoader goes through
`accelerator.prepare` (each rank its own shard) and the model is wrapped in DistributedDataParallel
when several processes run. Deterministic kernels are requested, so the losses of two runs with the
same number of processes are bit for bit the same.

Output (rank 0 prints the loss averaged over ranks, repr of a Python float, 17 significant digits):
    worker_start rank=R pid=P restart=N t=<epoch s>      every rank, before importing torch
    ready rank=R t=<epoch s>                             every rank, model and data prepared
    step I loss L t=<epoch s>                            after each optimizer step
    done steps=N t=<epoch s>
With --kill_at_step K and --kill_marker PATH, rank 0 kills itself with SIGKILL right after step K,
once: only while PATH does not exist (it creates it first), so a restarted run trains to the end.
"""
import time

T_START = time.time()

import os  # noqa: E402

print(f"worker_start rank={os.environ.get('RANK', '0')} pid={os.getpid()} "
      f"restart={os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')} t={T_START:.6f}", flush=True)
# Deterministic cuBLAS (must be set before CUDA initializes).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import argparse  # noqa: E402
import signal  # noqa: E402

import torch  # noqa: E402
from accelerate import Accelerator  # noqa: E402
from accelerate.utils import set_seed  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=64, help="per process")
    parser.add_argument("--features", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--classes", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--mixed_precision", default="bf16", choices=["no", "fp16", "bf16"])
    parser.add_argument("--cpu", action="store_true", help="train on CPUs (Gloo)")
    parser.add_argument("--kill_at_step", type=int, default=-1)
    parser.add_argument("--kill_marker", default="")
    return parser.parse_args()


def synthetic_data(args, world_size):
    """Inputs and labels for every step of every rank, from the seed alone."""
    generator = torch.Generator().manual_seed(args.seed)
    samples = args.steps * args.batch_size * world_size
    inputs = torch.randn(samples, args.features, generator=generator)
    teacher = torch.randn(args.features, args.classes, generator=generator)
    labels = (inputs @ teacher).argmax(dim=1)
    return torch.utils.data.TensorDataset(inputs, labels)


def main():
    args = parse_args()
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    accelerator = Accelerator(mixed_precision=args.mixed_precision, cpu=args.cpu)
    set_seed(args.seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(args.features, args.hidden), torch.nn.GELU(),
        torch.nn.Linear(args.hidden, args.hidden), torch.nn.GELU(),
        torch.nn.Linear(args.hidden, args.hidden), torch.nn.GELU(),
        torch.nn.Linear(args.hidden, args.classes),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    loader = torch.utils.data.DataLoader(synthetic_data(args, accelerator.num_processes),
                                         batch_size=args.batch_size, shuffle=False)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    loss_fn = torch.nn.CrossEntropyLoss()
    print(f"ready rank={accelerator.process_index} t={time.time():.6f}", flush=True)
    if accelerator.is_main_process:
        print(f"config: processes={accelerator.num_processes} distributed_type={accelerator.distributed_type} "
              f"mixed_precision={accelerator.mixed_precision} device={accelerator.device} "
              f"model={type(model).__name__} torch={torch.__version__}", flush=True)

    model.train()
    step = 0
    for inputs, labels in loader:
        with accelerator.autocast():
            loss = loss_fn(model(inputs), labels)
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        mean_loss = accelerator.reduce(loss.detach().float(), reduction="mean").item()
        if accelerator.is_main_process:
            print(f"step {step} loss {mean_loss!r} t={time.time():.6f}", flush=True)
        if (step == args.kill_at_step and accelerator.is_main_process and args.kill_marker
                and not os.path.exists(args.kill_marker)):
            with open(args.kill_marker, "w") as marker:
                marker.write(f"{os.getpid()}\n")
            print(f"kill rank={accelerator.process_index} step={step} t={time.time():.6f}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        step += 1
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        print(f"done steps={step} t={time.time():.6f}", flush=True)
    accelerator.end_training()


if __name__ == "__main__":
    main()
