"""A small ResNet for 32×32 images, written as a practitioner would: ``build(params, info)``.

knobs calls ``build`` once per trial with the trial's model keys (``params``: ``width``, ``depth``,
``dropout``) and what the data decides (``info``: ``input_shape`` (C, H, W), ``n_classes``), and
trains the module it returns; nothing here knows about knobs. The network is the CIFAR ResNet of He
et al. (2016) cut down for two CPU cores: a 3×3 stem, three stages of ``depth`` basic blocks
(``width``, 2×``width``, 4×``width`` channels; the last two halve the resolution), global average
pooling and a linear head. ``depth = 1`` is a ResNet-8, ``depth = 3`` a ResNet-20.
"""

from __future__ import annotations

from torch import nn


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with batch norm, added to the input (a 1×1 projection when the shape changes)."""

    def __init__(self, channels_in: int, channels_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(channels_out), nn.ReLU(inplace=True),
            nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False), nn.BatchNorm2d(channels_out))
        self.shortcut = nn.Identity() if stride == 1 and channels_in == channels_out else nn.Sequential(
            nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False), nn.BatchNorm2d(channels_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, channels: int, n_classes: int, width: int = 16, depth: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                                   nn.ReLU(inplace=True)]
        channels_in = width
        for stage, channels_out in enumerate((width, 2 * width, 4 * width)):
            for block in range(depth):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(channels_in, channels_out, stride))
                channels_in = channels_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(channels_in, n_classes))

    def forward(self, x):
        return self.head(self.features(x))


def build(params: dict, info) -> nn.Module:
    """The model of one trial: ``params`` holds ``width``, ``depth`` and ``dropout`` (each optional)."""
    return ResNet(info.input_shape[0], info.n_classes, width=int(params.get("width", 16)),
                  depth=int(params.get("depth", 1)), dropout=float(params.get("dropout", 0.0)))


build.accepts = {"width", "depth", "dropout"}  # knobs refuses any other searched model key before the run
