"""Seconds per data-parallel epoch with 1, 2, ... processes, side by side in one run.

    landmarks bench procs --device cpu            # 1 vs 2 processes (gloo) on this CPU
    landmarks bench procs --device cuda --procs 1,2,4,8   # on a GPU machine, one GPU per process

One epoch of an MLP (784-800-800-10, the Simard/Srivastava net) over synthetic MNIST-sized
images held on the device, batch 128 in all, the engine's data-parallel step
(`parallel: data`): each process takes its share of every global batch and the gradients are
averaged. The processes are started with torch.multiprocessing (spawn) and meet through a file
rendezvous, as torchrun's would. On a CPU the cores are shared out between the processes
(threads per process = cores / processes), so the figure is the overhead of splitting, not a
speed-up; on GPUs each process has its own device.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

BATCH = 128
IMAGES = 60_000


def _splits(images: int):
    from landmarks.data.registry import Splits, arrays_hash

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (images, 28, 28, 1)).astype(np.uint8)
    y = rng.integers(0, 10, images).astype(np.int64)
    return Splits("synthetic", x, y, x[:256], y[:256], 10, 255, arrays_hash(x[:1]))


def epoch_worker(rank: int, size: int, device_type: str, images: int, threads: int, rendezvous: str,
                 out: str) -> None:
    """Time one epoch (after a warm-up epoch) as rank `rank` of `size`; rank 0 writes the seconds."""
    import torch.distributed as dist

    from landmarks.data.loaders import to_device
    from landmarks.models import create_model
    from landmarks.train.distributed import SINGLE, World
    from landmarks.train.loop import train_one_epoch
    from landmarks.train.recipe import Recipe
    from landmarks.train.seeding import seed_everything
    from landmarks.train.state import TrainState
    from landmarks.train.trainer import Trainer

    torch.set_num_threads(threads)
    device = torch.device("cuda", rank) if device_type == "cuda" else torch.device("cpu")
    world = SINGLE
    if size > 1:
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend, init_method=f"file://{rendezvous}", rank=rank, world_size=size)
        world = World(rank=rank, size=size, local_rank=rank)
    try:
        data = to_device(_splits(images), 0.0, "unit", device)
        model = create_model("mlp", data.in_shape, 10, hidden=[800, 800]).to(device)
        recipe = Recipe(lr=0.01, momentum=0.9, batch_size=BATCH, epochs=2, val_fraction=0.0, drop_last=True,
                        parallel="data")
        trainer = Trainer.on_device(model, data, recipe, seed_everything(0), world=world)
        train_one_epoch(trainer, TrainState())  # warm-up
        if device_type == "cuda":
            torch.cuda.synchronize(device)
        world.barrier()
        t0 = time.perf_counter()
        train_one_epoch(trainer, TrainState())
        if device_type == "cuda":
            torch.cuda.synchronize(device)
        world.barrier()
        seconds = time.perf_counter() - t0
        if rank == 0:
            Path(out).write_text(json.dumps({"seconds": seconds}))
    finally:
        if size > 1:
            dist.destroy_process_group()


def run(procs: list[int], device: torch.device, images: int = IMAGES) -> list[dict]:
    """One row per process count: seconds per epoch, images per second, and the ratio to 1 process."""
    import torch.multiprocessing as mp

    cores = os.cpu_count() or 1
    rows = []
    for n in procs:
        threads = max(1, cores // n)  # the cores shared out (on GPUs: the host threads per process)
        with tempfile.TemporaryDirectory() as tmp:
            out = str(Path(tmp) / "seconds.json")
            rendezvous = str(Path(tmp) / "rendezvous")
            mp.start_processes(epoch_worker, args=(n, device.type, images, threads, rendezvous, out), nprocs=n,
                               start_method="spawn")
            seconds = json.loads(Path(out).read_text())["seconds"]
        rows.append({"processes": n, "threads per process": threads, "batch (global)": BATCH,
                     "s/epoch": round(seconds, 3), "images/s": round(images / seconds)})
    base = rows[0]["s/epoch"]
    for r in rows:
        r["speed-up vs first"] = round(base / r["s/epoch"], 2)
    return rows
