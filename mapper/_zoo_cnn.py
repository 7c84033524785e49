"""Convolutional networks of the zoo, with torchvision's layer structure and names (224×224).

BatchNorm is folded into the preceding convolution (the inference form every deployment
uses): the convolution's ``bias`` flag carries the folded shift; its ``2·C`` affine parameters
are still counted in ``meta["extra_params"]`` so that parameter totals match the source model.
Dropout is absent (inference). Padding is "same" (``k // 2``), as torchvision's.
"""

from __future__ import annotations

from .netbuilder import NetBuilder

__all__ = ["resnet", "vgg16", "mobilenet_v1", "mobilenet_v2"]


def _stem(nb: NetBuilder, x: str) -> str:
    x = nb.conv("conv1", x, 64, 7, 2, 3)
    x = nb.vector("relu", "relu", [x])
    return nb.pool("maxpool", x, "maxpool", 3, 2, 1)


def _basic(nb: NetBuilder, p: str, x: str, width: int, stride: int) -> str:
    cin = nb.shapes[x][1]
    y = nb.conv(f"{p}.conv1", x, width, 3, stride)
    y = nb.vector(f"{p}.relu1", "relu", [y])
    y = nb.conv(f"{p}.conv2", y, width, 3, 1)
    if stride != 1 or cin != width:
        x = nb.conv(f"{p}.downsample.0", x, width, 1, stride, 0)
    y = nb.vector(f"{p}.add", "add", [y, x])
    return nb.vector(f"{p}.relu", "relu", [y])


def _bottleneck(nb: NetBuilder, p: str, x: str, width: int, stride: int) -> str:
    cin, cout = nb.shapes[x][1], width * 4
    y = nb.conv(f"{p}.conv1", x, width, 1, 1, 0)
    y = nb.vector(f"{p}.relu1", "relu", [y])
    y = nb.conv(f"{p}.conv2", y, width, 3, stride)  # torchvision v1.5: stride on the 3×3
    y = nb.vector(f"{p}.relu2", "relu", [y])
    y = nb.conv(f"{p}.conv3", y, cout, 1, 1, 0)
    if stride != 1 or cin != cout:
        x = nb.conv(f"{p}.downsample.0", x, cout, 1, stride, 0)
    y = nb.vector(f"{p}.add", "add", [y, x])
    return nb.vector(f"{p}.relu", "relu", [y])


def _head(nb: NetBuilder, x: str, pool: str = "avgpool", fc: str = "fc") -> str:
    x = nb.pool(pool, x, "avgpool", 0, 1)
    b, c = nb.shapes[x][:2]
    x = nb.data("flatten", "flatten", [x], (b, c))
    x = nb.linear(fc, x, 1000)
    nb.output(x)
    return x


def resnet(nb: NetBuilder, batch: int, depth: int) -> None:
    """ResNet-18 (basic blocks 2-2-2-2) or ResNet-50 (bottlenecks 3-4-6-3)."""
    block, counts = (_basic, (2, 2, 2, 2)) if depth == 18 else (_bottleneck, (3, 4, 6, 3))
    x = _stem(nb, nb.input("input", (batch, 3, 224, 224)))
    for li, (n, width) in enumerate(zip(counts, (64, 128, 256, 512), strict=True), start=1):
        for bi in range(n):
            x = block(nb, f"layer{li}.{bi}", x, width, 2 if (bi == 0 and li > 1) else 1)
    _head(nb, x)


#: VGG-16 feature layers in torchvision's ``features`` indexing: channels, or "M" (max pool).
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def vgg16(nb: NetBuilder, batch: int) -> None:
    """VGG-16 (configuration D, no BatchNorm): 13 convolutions with bias, 3 FC layers."""
    x = nb.input("input", (batch, 3, 224, 224))
    i = 0
    for v in _VGG16:
        if v == "M":
            x = nb.pool(f"features.{i}", x, "maxpool", 2, 2)
            i += 1
        else:
            x = nb.conv(f"features.{i}", x, v, 3, 1, 1, bn=False, bias=True)
            x = nb.vector(f"features.{i + 1}", "relu", [x])
            i += 2
    # AdaptiveAvgPool2d((7, 7)) on a 7×7 map is the identity: a free view.
    x = nb.data("avgpool", "reshape", [x], nb.shapes[x])
    x = nb.data("flatten", "flatten", [x], (batch, 512 * 7 * 7))
    x = nb.linear("classifier.0", x, 4096)
    x = nb.vector("classifier.1", "relu", [x])
    x = nb.linear("classifier.3", x, 4096)
    x = nb.vector("classifier.4", "relu", [x])
    nb.output(nb.linear("classifier.6", x, 1000))


#: MobileNet v1 (α = 1): (output channels, stride) of the 13 depthwise-separable blocks.
_MOBILENET_V1 = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
                 (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def mobilenet_v1(nb: NetBuilder, batch: int) -> None:
    """MobileNet v1 1.0-224 (Howard et al. 2017, Table 1): BN + ReLU after every conv."""
    x = nb.input("input", (batch, 3, 224, 224))
    x = nb.conv("conv0", x, 32, 3, 2)
    x = nb.vector("conv0.relu", "relu", [x])
    for i, (cout, stride) in enumerate(_MOBILENET_V1, start=1):
        cin = nb.shapes[x][1]
        x = nb.conv(f"block{i}.dw", x, cin, 3, stride, groups=cin)
        x = nb.vector(f"block{i}.dw.relu", "relu", [x])
        x = nb.conv(f"block{i}.pw", x, cout, 1, 1, 0)
        x = nb.vector(f"block{i}.pw.relu", "relu", [x])
    _head(nb, x)


#: MobileNet v2 inverted-residual settings (expansion t, channels c, repeats n, stride s).
_MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                 (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2(nb: NetBuilder, batch: int) -> None:
    """MobileNet v2 1.0-224 as torchvision builds it (``features.0`` … ``features.18``)."""
    x = nb.input("input", (batch, 3, 224, 224))
    x = nb.conv("features.0", x, 32, 3, 2)
    x = nb.vector("features.0.relu6", "relu6", [x])
    f = 1
    for t, c, n, s in _MOBILENET_V2:
        for r in range(n):
            p, stride, cin = f"features.{f}", (s if r == 0 else 1), nb.shapes[x][1]
            y = x
            if t != 1:
                y = nb.conv(f"{p}.expand", y, cin * t, 1, 1, 0)
                y = nb.vector(f"{p}.expand.relu6", "relu6", [y])
            hidden = nb.shapes[y][1]
            y = nb.conv(f"{p}.dw", y, hidden, 3, stride, groups=hidden)
            y = nb.vector(f"{p}.dw.relu6", "relu6", [y])
            y = nb.conv(f"{p}.project", y, c, 1, 1, 0)
            if stride == 1 and cin == c:
                y = nb.vector(f"{p}.add", "add", [y, x])
            x = y
            f += 1
    x = nb.conv("features.18", x, 1280, 1, 1, 0)
    x = nb.vector("features.18.relu6", "relu6", [x])
    _head(nb, x, pool="pool", fc="classifier.1")
