"""ImageNet models: torchvision's builders under the project's names, and Krizhevsky et al.'s 2012
AlexNet as the paper describes it.

torchvision's builders are used as they are (no re-implementation), with two differences from
the papers that a result must name:
- `alexnet`: torchvision's AlexNet is the single-tower variant of Krizhevsky's "One weird trick"
  (2014): 64-192-384-256-256 filters, no local response normalisation (61.1M parameters);
- `resnet50`: torchvision's ResNet-50 is "v1.5", with the stride-2 of each down-sampling block in
  its 3x3 convolution rather than its first 1x1 (He et al. 2016 put it in the 1x1); about 0.5
  points better top-1, according to torchvision's documentation.
`alexnet2012` is the 2012 net itself: 96-256-384-384-256 filters, the two GPUs' towers as grouped
convolutions (conv2, conv4 and conv5 see only their own tower's maps; conv3 and the fully
connected layers see both), local response normalisation after the first two convolutions,
overlapping 3x3 max-pooling with stride 2, dropout 0.5 in the first two fully connected layers,
and the paper's initialisation (weights N(0, 0.01); biases 1 in conv2, conv4, conv5 and the
fully connected layers, 0 elsewhere). About 61.0M parameters ("60 million" in the paper).
`plain18` and `plain34` are ResNet-18/34 without their shortcuts (He et al. 2016, Table 2); the
paper's ResNet-18/34 there use parameter-free (zero-padding) shortcuts where the width grows,
torchvision's a 1x1 projection (the paper's option B).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision import models as tv

from landmarks.models.registry import register_model


class AlexNet2012(nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()

        def lrn() -> nn.Module:  # the paper's k = 2, n = 5, alpha = 1e-4, beta = 0.75
            return nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)

        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, 11, stride=4, padding=2), nn.ReLU(inplace=True), lrn(),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(inplace=True), lrn(),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
        )
        # 6x6 maps for 224x224 inputs, as in the paper; other sizes are pooled to it
        self.pool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        for i, conv in enumerate(convs):
            nn.init.normal_(conv.weight, 0.0, 0.01)
            nn.init.constant_(conv.bias, 1.0 if i in (1, 3, 4) else 0.0)  # conv2, conv4, conv5
        for fc in (m for m in self.classifier if isinstance(m, nn.Linear)):
            nn.init.normal_(fc.weight, 0.0, 0.01)
            nn.init.constant_(fc.bias, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


@register_model("alexnet2012")
def alexnet2012(in_shape: tuple[int, ...], num_classes: int, dropout: float = 0.5) -> AlexNet2012:
    return AlexNet2012(in_shape[0], num_classes, dropout)


def _torchvision(name: str, builder) -> None:
    @register_model(name)
    def build(in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        if in_shape[0] != 3:
            raise ValueError(f"{name} (torchvision) takes 3-channel images, not {in_shape[0]}")
        return builder(weights=None, num_classes=num_classes)

    build.__doc__ = f"torchvision.models.{builder.__name__}, untrained (published weights: the torchvision-weights path)"


class PlainBlock(tv.resnet.BasicBlock):
    """torchvision's basic block without its shortcut: He et al. 2016's plain nets (Table 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)))


def _plain(layers: list[int]):
    def build(in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        if in_shape[0] != 3:
            raise ValueError(f"plain nets take 3-channel images, not {in_shape[0]}")
        # torchvision's ResNet adds a 1x1 projection where the width changes; a plain net has no
        # shortcut to project, so the stage's first block gets none
        net = tv.resnet.ResNet(PlainBlock, layers, num_classes=num_classes)
        for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
            stage[0].downsample = None
        return net

    return build


register_model("plain18")(_plain([2, 2, 2, 2]))
register_model("plain34")(_plain([3, 4, 6, 3]))

for _name, _builder in (("alexnet", tv.alexnet), ("vgg16", tv.vgg16), ("vgg16_bn", tv.vgg16_bn),
                        ("resnet18", tv.resnet18), ("resnet34", tv.resnet34), ("resnet50", tv.resnet50)):
    _torchvision(_name, _builder)
