"""Epoch time of the engine against a plain torchvision-tutorial loop, same model, same data.

    landmarks bench epoch --models mlp-300,lenet5

The tutorial loop is what most tutorials write: a Dataset that turns each uint8 image into a PIL
image, `transforms.ToTensor()` and `Normalize`, a shuffling DataLoader, and a copy of every batch
to the device. The engine keeps the whole dataset on the device as one tensor and slices batches
from it. Both train the same architecture with the same optimizer for one epoch after a warm-up.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from landmarks.bench.timing import sync
from landmarks.data.loaders import to_device
from landmarks.data.registry import Splits
from landmarks.models import create_model
from landmarks.train.loop import train_one_epoch
from landmarks.train.recipe import Recipe
from landmarks.train.seeding import seed_everything
from landmarks.train.state import TrainState
from landmarks.train.trainer import Trainer

log = logging.getLogger(__name__)

# name -> (registered model, model_args, batch size)
MODELS = {
    "mlp-300": ("mlp", {"hidden": [300], "activation": "tanh"}, 64),
    "mlp-800": ("mlp", {"hidden": [800]}, 64),
    "lenet5": ("lenet5", {}, 64),
}


@dataclass
class EpochTiming:
    model: str
    batch: int
    engine_s: float
    tutorial_s: float

    @property
    def speedup(self) -> float:
        return self.tutorial_s / self.engine_s


def engine_epoch(splits: Splits, name: str, args: dict, batch: int, device: torch.device) -> float:
    data = to_device(splits, 0.0, "unit", device)
    recipe = Recipe(lr=0.01, momentum=0.9, batch_size=batch, epochs=1, val_fraction=0.0)
    gen = seed_everything(0)
    model = create_model(name, data.in_shape, data.num_classes, **args).to(device)
    trainer = Trainer.on_device(model, data, recipe, gen)
    train_one_epoch(trainer, TrainState())  # warm-up: allocator, kernels, caches
    sync(device)
    t0 = time.perf_counter()
    train_one_epoch(trainer, TrainState())
    sync(device)
    return time.perf_counter() - t0


class TutorialMNIST(torch.utils.data.Dataset):
    """Like torchvision.datasets.MNIST: a PIL image per sample, then the transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        from torchvision import transforms

        self.images, self.labels = images[..., 0], labels
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(np.asarray(self.images[i]), mode="L")), int(self.labels[i])


def tutorial_epoch(splits: Splits, name: str, args: dict, batch: int, device: torch.device, workers: int) -> float:
    ds = TutorialMNIST(splits.train_x, splits.train_y)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                                         pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    torch.manual_seed(0)
    model = create_model(name, (1, 28, 28), 10, **args).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def one_epoch(limit: int | None = None) -> None:
        model.train()
        for i, (x, y) in enumerate(loader):
            if limit is not None and i >= limit:
                break
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()

    one_epoch(limit=50)  # warm-up
    sync(device)
    t0 = time.perf_counter()
    one_epoch()
    sync(device)
    return time.perf_counter() - t0


def run(splits: Splits, names: list[str], device: torch.device, workers: int) -> list[EpochTiming]:
    out = []
    for key in names:
        name, args, batch = MODELS[key]
        log.info("  %s (batch %d): engine epoch ...", key, batch)
        eng = engine_epoch(splits, name, args, batch, device)
        log.info("  %s: engine %.2f s; tutorial loop epoch ...", key, eng)
        tut = tutorial_epoch(splits, name, args, batch, device, workers)
        out.append(EpochTiming(key, batch, eng, tut))
        log.info("  %s: tutorial %.2f s -> %.1fx", key, tut, tut / eng)
    return out
