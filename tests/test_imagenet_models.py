"""ImageNet models: torchvision's builders under the project's names, and the 2012 AlexNet as
described (parameter counts from the papers and torchvision's model cards)."""

import pytest
import torch

from landmarks.models import count_parameters, create_model


@pytest.mark.parametrize("name, params", [
    ("alexnet", 61_100_840),  # torchvision's single-tower "one weird trick" AlexNet: 61.1M
    ("vgg16", 138_357_544),  # 138.4M
    ("vgg16_bn", 138_365_992),
    ("resnet18", 11_689_512),
    ("resnet34", 21_797_672),
    ("resnet50", 25_557_032),  # 25.6M (v1.5: the same parameters as v1)
])
def test_torchvision_builders_have_their_published_sizes(name, params):
    with torch.device("meta"):  # counted without allocating 138M parameters
        model = create_model(name, (3, 224, 224), 1000)
    assert count_parameters(model) == params


def test_the_2012_alexnet_is_the_papers_net():
    with torch.device("meta"):
        model = create_model("alexnet2012", (3, 224, 224), 1000)
    # "60 million parameters": the two towers' grouped convolutions and the 4096-unit layers
    assert count_parameters(model) == 60_965_224
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]  # conv3 sees both towers, the others their own
    assert sum(isinstance(m, torch.nn.LocalResponseNorm) for m in model.features) == 2
    pools = [m for m in model.features if isinstance(m, torch.nn.MaxPool2d)]
    assert all(p.kernel_size == 3 and p.stride == 2 for p in pools)  # overlapping pooling


def test_the_2012_alexnet_runs_and_starts_as_the_paper_says():
    torch.manual_seed(0)
    model = create_model("alexnet2012", (3, 224, 224), 10).eval()
    features = torch.flatten(model.pool(model.features(torch.randn(2, 3, 224, 224))), 1)
    assert features.shape == (2, 256 * 6 * 6)  # 6x6 maps of 256 at 224x224, as in the paper
    assert model(torch.randn(2, 3, 224, 224)).shape == (2, 10)
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [float(c.bias[0].detach()) for c in convs] == [0.0, 1.0, 0.0, 1.0, 1.0]
    assert abs(float(convs[0].weight.std()) - 0.01) < 0.001
