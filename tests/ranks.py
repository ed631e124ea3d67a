"""Helpers that run inside the processes a distributed test starts (a helper module, not a test)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.distributed as dist


def evaluate_on_rank(rank: int, size: int, rendezvous: str, out: str) -> None:
    """Evaluate a fixed model on 1,001 fixed images as rank `rank` of `size`; write the errors."""
    from landmarks.train.distributed import World
    from landmarks.train.sources.device import evaluate

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=size)
    try:
        model, x, y = fixed_problem()
        errors = evaluate(model, x, y, ks=(1, 5), world=World(rank=rank, size=size))
        Path(out).joinpath(f"rank{rank}.json").write_text(json.dumps(errors))
    finally:
        dist.destroy_process_group()


def fixed_problem(n: int = 1001) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A small random classifier and n images it gets partly right, the same in every process."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 20, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    model = torch.nn.Linear(20, 10)
    with torch.no_grad():
        model.weight.copy_(torch.randn(10, 20, generator=g))
        model.bias.zero_()
        x[: n // 2] += 3 * model.weight[y[: n // 2]]  # the first half leans towards its label
    return model, x, y


def image_model() -> torch.nn.Module:
    """A small classifier of 32x32 RGB crops, the same weights in every process."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(48, 7))


def evaluate_images_on_rank(rank: int, size: int, rendezvous: str, out: str, root: str) -> None:
    """Evaluate `image_model` with ten crops on the val split of the image tree at `root` as rank
    `rank` of `size`; write the errors."""
    from landmarks.data.imagenet import read_tree
    from landmarks.train.distributed import World
    from landmarks.train.sources.images import evaluate_images
    from landmarks.train.image_recipe import ImageRecipe

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=size)
    try:
        tree = read_tree(Path(root))
        images = ImageRecipe(size=32, eval_resize=36, eval_crops=10, workers=0)
        errors = evaluate_images(image_model(), tree.root, tree.val, images, torch.device("cpu"),
                                 World(rank=rank, size=size))
        Path(out).joinpath(f"rank{rank}.json").write_text(json.dumps(errors))
    finally:
        dist.destroy_process_group()


def bn_problem(rank: int, size: int) -> tuple:
    """A BatchNorm net, its device data (shared) and a data-parallel recipe without sync_bn."""
    from landmarks.data.loaders import DeviceData
    from landmarks.train.recipe import Recipe

    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(96, 1, 4, 4, generator=g), torch.randint(0, 3, (96,), generator=g)
    x[y == 1] += 2.0  # learnable, and each rank's share has its own batch statistics
    data = DeviceData(x_train=x[:64], y_train=y[:64], x_val=x[:0], y_val=y[:0], x_test=x[64:], y_test=y[64:],
                      num_classes=3, x_train_u8=torch.zeros(64, 1, 4, 4, dtype=torch.uint8), max_value=1.0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(16, 3))
    recipe = Recipe(epochs=2, batch_size=16, lr=0.1, parallel="data", sync_bn=False, val_fraction=0.0)
    return model, data, recipe


def fit_bn_on_rank(rank: int, size: int, rendezvous: str, out: str) -> None:
    """Train `bn_problem` data-parallel as rank `rank`; write the final BatchNorm buffers, the
    reported test error, and this rank's weights."""
    from landmarks.train.distributed import World
    from landmarks.train.loop import fit
    from landmarks.train.seeding import seed_everything
    from landmarks.train.trainer import Trainer

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=size)
    try:
        model, data, recipe = bn_problem(rank, size)
        result = fit(Trainer.on_device(model, data, recipe, seed_everything(0), world=World(rank=rank, size=size)))
        bn = model[1]
        Path(out).joinpath(f"rank{rank}.json").write_text(json.dumps({
            "running_mean": bn.running_mean.tolist(), "running_var": bn.running_var.tolist(),
            "test": result.test, "history_test": [h["test_error"] for h in result.history]}))
        torch.save(model.state_dict(), Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def stop_on_rank(rank: int, size: int, rendezvous: str, out: str) -> None:
    """Rank 1 alone is told to stop at its first step; rank 0's checkpoint takes a second to
    write. Each rank records whether the checkpoint was on disk when it left."""
    import time

    from landmarks.train.checkpoint import Checkpointer
    from landmarks.train.distributed import World
    from landmarks.train.loop import fit
    from landmarks.train.seeding import seed_everything
    from landmarks.train.signals import Interrupted, StopFlag
    from landmarks.train.trainer import Trainer

    class SlowDisk(Checkpointer):
        def save(self, payload: dict, step: int) -> None:
            time.sleep(1.0)  # a checkpoint on a slow network file system
            super().save(payload, step)

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=size)
    path = Path(out) / "run.pt"
    try:
        model, data, recipe = bn_problem(rank, size)
        stop = StopFlag()
        if rank == 1:
            stop.signum = 15  # SIGTERM reached this rank only
        trainer = Trainer.on_device(model, data, recipe, seed_everything(0), SlowDisk(path, {"run": 1}), stop,
                                    world=World(rank=rank, size=size))
        try:
            fit(trainer)
            left = "finished"
        except Interrupted:
            left = "interrupted"
        Path(out).joinpath(f"rank{rank}.json").write_text(json.dumps({"left": left, "checkpoint": path.exists()}))
    finally:
        dist.destroy_process_group()


def settle_precision_on_rank(rank: int, size: int, rendezvous: str, out: str) -> None:
    """Settle "auto" as rank `rank` of a data-parallel run whose ranks' CPUs disagree: rank 0 as an
    older CPU (oneDNN capped at AVX2: fp32), rank 1 as one where bf16 pays (any gain taken);
    write what each rank resolves alone and what it goes on with."""
    from landmarks.train import precision
    from landmarks.train.distributed import World

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if rank == 0:
        os.environ["ONEDNN_MAX_CPU_ISA"] = "AVX2"
    else:
        precision.BF16_MIN_GAIN = -1.0
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=size)
    try:
        cpu = torch.device("cpu")
        alone = precision.resolve_precision("auto", cpu)
        settled = precision.settle_precision("auto", cpu, None, World(rank=rank, size=size))
        # resumed: each rank read a checkpoint (the same one, in practice); rank 0's holds
        resumed = precision.settle_precision("auto", cpu, ("bf16", "fp32")[rank], World(rank=rank, size=size))
        Path(out).joinpath(f"rank{rank}.json").write_text(json.dumps(
            {"alone": alone, "settled": settled, "resumed": resumed}))
    finally:
        dist.destroy_process_group()
