"""He et al. 2016's CIFAR recipe: batch normalisation over each GPU's 64 images of a batch of 128,
and per-pixel mean subtraction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from landmarks.data.loaders import to_device
from landmarks.data.registry import Splits
from landmarks.errors import ConfigError
from landmarks.models import create_model
from landmarks.models.resnet_cifar import GroupBatchNorm2d


def _pair(channels: int = 4) -> tuple[GroupBatchNorm2d, nn.BatchNorm2d, nn.BatchNorm2d]:
    torch.manual_seed(0)
    grouped = GroupBatchNorm2d(channels, group=64)
    with torch.no_grad():
        grouped.weight.uniform_(0.5, 1.5)
        grouped.bias.uniform_(-0.5, 0.5)
    halves = [nn.BatchNorm2d(channels), nn.BatchNorm2d(channels)]
    for bn in halves:
        bn.load_state_dict(grouped.state_dict())
    return grouped, *halves


def test_bn_over_64_equals_two_batch_norms_over_the_halves():
    grouped, first, second = _pair()
    x = (torch.randn(128, 4, 6, 6, dtype=torch.float64) * 3 + torch.linspace(-2, 2, 128).view(-1, 1, 1, 1)).float()
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = grouped(x1)
    want = torch.cat([first(x2[:64]), second(x2[64:])])
    torch.testing.assert_close(out, want)
    # the halves differ (their means were shifted apart), so one BN over 128 would not match
    assert not torch.allclose(out, nn.BatchNorm2d(4).train()(x), atol=1e-3)
    g = torch.randn_like(out)
    out.backward(g)
    want.backward(g)
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(grouped.weight.grad, first.weight.grad + second.weight.grad)
    torch.testing.assert_close(grouped.bias.grad, first.bias.grad + second.bias.grad)
    # running statistics: those of the first half, as the first GPU's copy keeps them
    torch.testing.assert_close(grouped.running_mean, first.running_mean)
    torch.testing.assert_close(grouped.running_var, first.running_var)
    assert int(grouped.num_batches_tracked) == 1
    # evaluation uses them on the whole batch
    grouped.eval()
    first.eval()
    torch.testing.assert_close(grouped(x), first(x))


def test_resnet_bn_group_builds_with_the_same_parameters_and_state_names():
    plain = create_model("resnet20", (3, 32, 32), 10)
    grouped = create_model("resnet20", (3, 32, 32), 10, bn_group=64)
    assert [n for n, _ in plain.state_dict().items()] == [n for n, _ in grouped.state_dict().items()]
    bns = [m for m in grouped.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 19 and all(isinstance(m, GroupBatchNorm2d) and m.group == 64 for m in bns)
    grouped.load_state_dict(plain.state_dict())
    x = torch.randn(128, 3, 32, 32)
    # in training, an image's output depends on its own half of the batch only
    other = torch.cat([x[:64], x[64:] * 2 + 1])
    torch.testing.assert_close(grouped(other)[:64], grouped(x)[:64])
    assert not torch.allclose(plain(other)[:64], plain(x)[:64], atol=1e-3)  # one BN over 128 mixes them
    with pytest.raises(ConfigError, match="bn_group must be a positive"):
        create_model("resnet20", (3, 32, 32), 10, bn_group=-1)


def test_pixel_mean_subtracts_the_training_parts_mean_image_pixel_by_pixel():
    """He et al. 2016: "the per-pixel mean subtracted". The mean is the training part's (not the
    validation images'), one value per pixel and channel, on the 0..255 scale."""
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(50, 8, 8, 3), dtype=np.uint8)
    train[:, :4] //= 4  # a top half darker than the bottom: per-channel means would not centre pixels
    test = rng.integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
    splits = Splits("t", train, np.arange(50) % 10, test, np.arange(6), 10, 255, "h")
    data = to_device(splits, 0.2, "pixel_mean", torch.device("cpu"))
    kept = data.x_train_u8.float()  # the 40 training images, the 10 validation ones held out
    assert len(kept) == 40
    mean_image = kept.mean(dim=0, keepdim=True)
    # within float32 rounding of the loader's (x / 255 - mean) * 255 on the 0..255 scale
    torch.testing.assert_close(data.x_train, kept - mean_image, rtol=0, atol=1e-3)
    raw_test = torch.from_numpy(test).permute(0, 3, 1, 2).float()
    torch.testing.assert_close(data.x_test, raw_test - mean_image, rtol=0, atol=1e-3)
    all_images = torch.from_numpy(train).permute(0, 3, 1, 2).float()
    assert not torch.allclose(mean_image, all_images.mean(dim=0, keepdim=True), atol=0.5)  # not with validation's
    assert float(mean_image[0, 0, :4].mean()) < float(mean_image[0, 0, 4:].mean()) - 50  # varies pixel by pixel


def test_figure_6s_paper_profile_trains_as_table_6s():
    """Figure 6 uses Table 6's training: its paper profile resolves to the same normalisation and
    batch-norm groups as he2016-resnet-cifar10's, plain nets included, graded as that profile is."""
    from pathlib import Path

    from landmarks.catalog import load_catalog, resolve_recipe

    cat = load_catalog(Path(__file__).resolve().parents[1] / "benchmarks")
    fig6, table6 = cat["he2016-fig6-plain-vs-residual"], cat["he2016-resnet-cifar10"]
    t6 = resolve_recipe(table6, table6.claim_in("ResNet-20", "paper"), "paper")
    for name in ("plain-20", "plain-56", "ResNet-20", "ResNet-56"):
        claim = fig6.claim_in(name, "paper")
        r = resolve_recipe(fig6, claim, "paper")
        assert claim.model_args == {"bn_group": 64}
        assert (r.normalize, r.precision, r.max_steps, r.schedule, r.val_fraction, r.augment) == \
            (t6.normalize, t6.precision, t6.max_steps, t6.schedule, t6.val_fraction, t6.augment)
    assert fig6.fidelity("paper") == table6.fidelity("paper") == "paper, minor departures"
    assert "GPU" in fig6.profile("paper").hardware
