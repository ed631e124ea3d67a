"""Checks that need CUDA: run by scripts/gpu/check.sh on a GPU machine, skipped elsewhere."""

import numpy as np
import pytest
import torch

from landmarks.data.loaders import to_device
from landmarks.models import create_model
from landmarks.train.loop import train_one_epoch
from landmarks.train.seeding import seed_everything
from landmarks.train.state import TrainState
from landmarks.train.trainer import Trainer

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def losses(fast: bool, recipe, splits, model_name: str):
    device = torch.device("cuda")
    data = to_device(splits, 0.0, recipe.normalize, device, float_train=not fast)
    gen = seed_everything(0)
    trainer = Trainer.on_device(create_model(model_name, data.in_shape, 10).to(device), data, recipe, gen, fast=fast)
    state, out = TrainState(), []
    for _ in range(recipe.epochs):
        out.append(train_one_epoch(trainer, state)["train_loss"])
        state.epoch, state.batch = state.epoch + 1, 0
    return np.array(out), trainer


def test_cuda_graph_fast_path_follows_the_eager_reference(cifar_like, smooth_recipe):
    recipe = smooth_recipe.model_copy(update={"epochs": 6, "batch_size": 64})  # 192 steps
    ref, _ = losses(False, recipe, cifar_like(2048), "resnet20")
    got, trainer = losses(True, recipe, cifar_like(2048), "resnet20")
    assert trainer.fast is not None and trainer.fast.graph is not None  # the step ran as a CUDA graph
    # bf16 and a captured RNG stream: the same trajectory within a few percent, not bit for bit
    assert np.allclose(got, ref, rtol=0.05), (ref, got)
    assert got[-1] < got[0]


def test_fast_path_has_no_host_sync_in_the_step(cifar_like, smooth_recipe):
    recipe = smooth_recipe.model_copy(update={"batch_size": 64})
    _, trainer = losses(True, recipe, cifar_like(2048), "resnet20")
    idx = torch.arange(64, device="cuda")
    torch.cuda.set_sync_debug_mode("error")  # any synchronising call inside raises
    try:
        for b in range(5):
            trainer.fast.run(idx, b, 0.01)
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_jpeg_batches_decoded_on_the_gpu_match_the_cpu_decoder(tmp_path):
    """nvJPEG (decode_jpeg on the device, one call per batch) against libjpeg in the workers: the
    same crops within a few grey levels (the two decoders' IDCTs round differently)."""
    from torchvision.io import ImageReadMode, decode_image, read_file

    from imagenet_tree import make_tree
    from landmarks.data.imagenet import read_tree
    from landmarks.train.sources.image_pipeline import decode_on_device, eval_transform
    from landmarks.train.image_recipe import ImageRecipe

    make_tree(tmp_path / "tree", classes=3, train=1, val=4, size=(300, 400))
    tree = read_tree(tmp_path / "tree")
    transform = eval_transform(ImageRecipe(size=224, eval_resize=256))
    files = [read_file(str(tree.root / f)) for f in tree.val.files]
    gpu = decode_on_device(files, transform, torch.device("cuda")).cpu()
    cpu = torch.stack([transform(decode_image(f, mode=ImageReadMode.RGB)) for f in files])
    assert gpu.shape == cpu.shape == (12, 3, 224, 224)
    assert (gpu.int() - cpu.int()).abs().float().mean() < 2.0
