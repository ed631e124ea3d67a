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
    from landmarks.train.engine import evaluate

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
    from landmarks.train.image_fit import evaluate_images
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
