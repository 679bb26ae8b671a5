"""The generator: lightness L plus sparse colour hints in, ab chroma out.

Interface (fixed; the exported ONNX model has the same one):
    l      (N, 1, H, W)  float32, normalised lightness L / 50 - 1, in [-1, 1]
    hints  (N, 3, H, W)  float32, channels (a / 110 * mask, b / 110 * mask, mask); all zeros
                         means fully automatic colouring. A model with ``hint_channels`` 4 takes a
                         fourth, the hint's lightness (L / 50 - 1) * mask, so that a hint can say
                         how light a region is, not only its chroma (paint models)
    ab     (N, 2, H, W)  float32, predicted a / 110, b / 110
    l_paint (N, 1, H, W) float32, paint models only (``GeneratorConfig.paint``): the predicted
                         lightness of the colour page under the ink (flats and shading), L / 50 - 1

A tint model's output L is the input's own; a paint model also predicts the page's lightness, so
white paper and screentone can take colour (``irodori.paint``). Its L head starts from the input
itself (the lightness averaged at H/4, plus a zero-initialised correction), so a new paint head
begins as the tint model it grew from.

H and W must be multiples of ``GeneratorConfig.size_multiple`` (the inference pipeline pads).

The body is a small residual U-Net that runs behind a PixelUnshuffle stem at half resolution,
with a PixelShuffle head. CPU cost is set by FLOPs, and chroma is low-frequency (the eye is far
less sensitive to chroma detail than to luminance detail), so half resolution costs little
quality and quarters the work. A global-context block at the bottom (pooled features fed back
as a per-channel bias, as Iizuka et al. 2016 fuse global features) lets the whole image vote on
what colour things are (a sky is blue because the image is a landscape).

``encoder="efficientnet-lite0"`` (or ``"efficientnet-lite1"``, the same widths, deeper stages)
swaps the encoder for EfficientNet-Lite's (Tan and Le 2019;
Lite: ReLU6, no squeeze-excitation), which training can start from ImageNet weights
(``TrainConfig.encoder_init``): semantic priors, the reason DeOldify and DDColor know skies are
blue and grass green. Its five feature levels (16, 24, 40, 112, 320 channels at H/2 .. H/32)
are projected by 1x1 convolutions to ``channels`` and enter the same decoder. The ImageNet
network takes RGB in [-1, 1]; a grey image is R = G = B, so its three stem input channels are
summed into one that reads the normalised L, and the hints get their own zero-initialised
stem channels.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .hints import HINT_CHANNELS_WITH_L


MAX_CHANNELS = 4096  # per level: a checkpoint asking more is damaged (100,000 asked for 360 GB)
MAX_BLOCKS = 64  # residual blocks per level


def _check_number(name: str, value: object, low: float, high: float, *, integer: bool = False) -> None:
    """ValueError unless ``value`` is a number (an int where ``integer``; not a bool or a string)
    in [low, high]: checkpoint.json and the command line may hold anything."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind} in [{low:g}, {high:g}], not {value!r}")


@dataclass
class GeneratorConfig:
    """Architecture arguments; saved in every checkpoint and enough to rebuild the network."""

    channels: tuple[int, ...] = (24, 48, 96, 192, 192)  # per level, at H/2, H/4, ... H/32
    enc_blocks: tuple[int, ...] = (1, 1, 1, 2, 2)  # residual blocks per encoder level
    dec_blocks: tuple[int, ...] = (1, 1, 1, 1)  # residual blocks per decoder level, top first
    hint_channels: int = 3
    # "regression": ab directly. "classification": logits over ab bins (Zhang et al. 2016),
    # decoded inside the network by the annealed mean (softmax(logits / T) @ bin centres), so the
    # exported interface stays ab either way.
    head: str = "regression"
    bin_step: float = 10.0  # ab grid of the classification bins
    temperature: float = 0.38  # annealed-mean temperature: lower = more vivid, less smooth
    encoder: str = "unet"  # "unet" (the residual encoder above), "efficientnet-lite0" or "efficientnet-lite1"
    paint: bool = False  # also predict the page's lightness (l_paint) for paint mode
    # a second lightness head for line art (l_paint_line_art): a page's paper hides flats and
    # shading, line art's sheet hides flat fills, and one head fitted to both served neither best
    line_art_head: bool = False

    def __post_init__(self) -> None:
        _check_number("model.hint_channels", self.hint_channels, 3, 4, integer=True)  # (a, b, mask[, L])
        _check_number("model.bin_step", self.bin_step, 2.0, 50.0)
        _check_number("model.temperature", self.temperature, 0.0, 1.0)
        for name in ("paint", "line_art_head"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"model.{name} must be true or false, not {getattr(self, name)!r}")
        if self.line_art_head and not self.paint:
            raise ValueError("model.line_art_head needs model.paint (it is a second paint lightness head)")
        if self.head not in ("regression", "classification"):
            raise ValueError("model.head must be 'regression' or 'classification'")
        if self.encoder not in ("unet", *LITE_REPEATS):
            raise ValueError(f"model.encoder must be one of {', '.join(('unet', *LITE_REPEATS))}")
        if self.encoder in LITE_REPEATS and len(self.channels) != len(LITE_LEVEL_STAGES):
            raise ValueError(f"model.encoder={self.encoder} has {len(LITE_LEVEL_STAGES)} levels: "
                             f"model.channels needs {len(LITE_LEVEL_STAGES)} entries")
        if self.temperature <= 0.0:
            raise ValueError("model.temperature must be in (0, 1]")
        for name, low, high in (("channels", 1, MAX_CHANNELS), ("enc_blocks", 0, MAX_BLOCKS),
                                ("dec_blocks", 0, MAX_BLOCKS)):
            values = getattr(self, name)
            if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
                raise ValueError(f"model.{name} must be a list of integers, not {values!r}")
            for value in values:
                _check_number(f"model.{name}", value, low, high, integer=True)
            setattr(self, name, tuple(values))
        if len(self.channels) < 2:
            raise ValueError("model.channels needs at least two levels")
        if len(self.enc_blocks) != len(self.channels):
            raise ValueError("model.enc_blocks must have one entry per level in model.channels")
        if len(self.dec_blocks) != len(self.channels) - 1:
            raise ValueError("model.dec_blocks must have len(model.channels) - 1 entries")

    @property
    def size_multiple(self) -> int:
        """Input H and W must be divisible by this (stem /2, then one /2 per extra level)."""
        return 2 ** len(self.channels)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class ResBlock(nn.Module):
    """conv-BN-ReLU-conv-BN + identity, ReLU. BN folds into the convs on export."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(y)))


def _conv_bn_relu(c_in: int, c_out: int, *, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


# EfficientNet-Lite's stages: (expand ratio, kernel, stride, output channels). The variants share
# them (Lite1 keeps Lite0's widths; Lite2 and up widen them and are not supported) and differ in
# the repeats per stage (the depth multiplier: 1.0 for Lite0, 1.1 for Lite1, rounded up per stage),
# which are the block counts of the ImageNet checkpoints (efficientnet-lite-pytorch).
LITE_STAGES = [(1, 3, 1, 16), (6, 3, 2, 24), (6, 5, 2, 40), (6, 3, 2, 80), (6, 5, 1, 112), (6, 5, 2, 192),
               (6, 3, 1, 320)]
LITE_REPEATS = {"efficientnet-lite0": (1, 2, 2, 3, 3, 4, 1), "efficientnet-lite1": (1, 3, 3, 4, 4, 5, 1)}
LITE_LEVEL_STAGES = (0, 1, 2, 4, 6)  # the stages whose last block gives a feature level, H/2 .. H/32


def lite_levels(encoder: str) -> dict[int, int]:
    """The block index after which each feature level is taken -> its channels, for a variant
    (efficientnet-lite0: {0: 16, 2: 24, 4: 40, 10: 112, 15: 320})."""
    ends = list(itertools.accumulate(LITE_REPEATS[encoder]))
    return {ends[s] - 1: LITE_STAGES[s][3] for s in LITE_LEVEL_STAGES}


LITE_BN_EPS = 1e-3  # as the ImageNet weights were trained


class DepthwiseConv2d(nn.Conv2d):
    """A grouped convolution that stays float32 under CPU bfloat16 autocast: oneDNN's bfloat16
    depthwise backward ran 1.6x slower than float32 on an AMX Xeon, while every other layer ran
    faster in bfloat16. Same parameters and state keys as ``nn.Conv2d``; elsewhere unchanged."""

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return super()._conv_forward(x.float(), weight.float(), None if bias is None else bias.float())
        return super()._conv_forward(x, weight, bias)


class ConvBN(nn.Sequential):
    """Convolution, batch norm and an optional ReLU6, with ``nn.Sequential``'s state keys (0, 1, 2).

    With ``frozen_bn`` set (:func:`freeze_batch_norm`) the batch norm uses its running
    statistics in training too and is folded into the convolution at every forward: one
    convolution with weight ``w * g / sqrt(var + eps)`` and bias ``b - mean * g / sqrt(var + eps)``,
    ``g`` and ``b`` still learning. This is how detection models fine-tune an ImageNet backbone
    (FrozenBatchNorm2d in Detectron2 and torchvision); on a CPU it saves the normalisation's
    passes over every activation, forward and backward."""

    frozen_bn = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.frozen_bn:
            return super().forward(x)
        conv, bn = self[0], self[1]
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        y = conv._conv_forward(x, conv.weight * scale.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * scale)
        return self[2](y) if len(self) > 2 else y


def freeze_batch_norm(module: nn.Module) -> int:
    """Sets ``frozen_bn`` on every :class:`ConvBN` inside ``module`` -> how many. Their running
    statistics stop changing; the batch norms' weights and biases still train."""
    blocks = [m for m in module.modules() if isinstance(m, ConvBN)]
    for m in blocks:
        m.frozen_bn = True
    return len(blocks)


def _conv_bn(c_in: int, c_out: int, kernel: int, *, stride: int = 1, groups: int = 1, act: bool = True) -> ConvBN:
    conv = DepthwiseConv2d if groups > 1 else nn.Conv2d
    layers: list[nn.Module] = [conv(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups,
                                    bias=False), nn.BatchNorm2d(c_out, eps=LITE_BN_EPS)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return ConvBN(*layers)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, kxk depthwise (stride), 1x1 project; identity when shapes allow."""

    def __init__(self, c_in: int, c_out: int, *, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = c_in * expand
        self.expand = _conv_bn(c_in, mid, 1) if expand != 1 else nn.Identity()
        self.depthwise = _conv_bn(mid, mid, kernel, stride=stride, groups=mid)
        self.project = _conv_bn(mid, c_out, 1, act=False)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class LiteEncoder(nn.Module):
    """An EfficientNet-Lite feature extractor (no head): (l, hints) -> five feature levels."""

    def __init__(self, hint_channels: int, encoder: str = "efficientnet-lite0") -> None:
        super().__init__()
        self.levels = lite_levels(encoder)
        self.stem = _conv_bn(1 + hint_channels, 32, 3, stride=2)
        blocks: list[nn.Module] = []
        c = 32
        for (expand, kernel, stride, c_out), repeats in zip(LITE_STAGES, LITE_REPEATS[encoder]):
            for r in range(repeats):
                blocks.append(MBConv(c, c_out, expand=expand, kernel=kernel, stride=stride if r == 0 else 1))
                c = c_out
        self.blocks = nn.ModuleList(blocks)

    def forward(self, l: torch.Tensor, hints: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(torch.cat([l, hints], dim=1))
        levels = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.levels:
                levels.append(x)
        return levels


def lite_state_from_imagenet(imagenet: dict[str, torch.Tensor], hint_channels: int) -> dict[str, torch.Tensor]:
    """An ImageNet EfficientNet-Lite state dict (efficientnet-lite-pytorch's key names, any
    variant) -> LiteEncoder's. The RGB stem's weights are summed over colour (a grey input has
    R = G = B); the hint inputs start at zero. The classifier head (1280-channel conv, fc) is dropped."""
    out: dict[str, torch.Tensor] = {}
    stem = imagenet["_conv_stem.weight"]  # (32, 3, 3, 3)
    hint_w = torch.zeros(stem.shape[0], hint_channels, *stem.shape[2:], dtype=stem.dtype)
    out["stem.0.weight"] = torch.cat([stem.sum(dim=1, keepdim=True), hint_w], dim=1)
    names = {"_expand_conv": "expand.0", "_bn0": "expand.1", "_depthwise_conv": "depthwise.0",
             "_bn1": "depthwise.1", "_project_conv": "project.0", "_bn2": "project.1"}
    for key, value in imagenet.items():
        if key.startswith("_bn0."):
            out["stem.1." + key[len("_bn0."):]] = value
        elif key.startswith("_blocks."):
            _, index, module, param = key.split(".", 3)
            out[f"blocks.{index}.{names[module]}.{param}"] = value
    return out


class GlobalContext(nn.Module):
    """Mean-pooled features -> MLP -> added to every position as a channel bias."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(ch, ch), nn.ReLU(inplace=True), nn.Linear(ch, ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.mlp(x.mean(dim=(2, 3)))  # (N, C)
        return F.relu(x + g[:, :, None, None])


class Generator(nn.Module):
    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or GeneratorConfig()
        ch = cfg.channels
        if cfg.encoder in LITE_REPEATS:
            self.encoder = LiteEncoder(cfg.hint_channels, cfg.encoder)
            self.lateral = nn.ModuleList([_conv_bn_relu(c_in, c, kernel=1)
                                          for c_in, c in zip(self.encoder.levels.values(), ch)])
        else:
            self.stem = _conv_bn_relu((1 + cfg.hint_channels) * 4, ch[0])
            self.down = nn.ModuleList(
                [_conv_bn_relu(ch[i - 1], ch[i], stride=2) for i in range(1, len(ch))]
            )
            self.enc = nn.ModuleList(
                [nn.Sequential(*[ResBlock(c) for _ in range(n)]) for c, n in zip(ch, cfg.enc_blocks)]
            )
        self.context = GlobalContext(ch[-1])
        # The decoder climbs back to H/2 for regression; the classification head reads H/4
        # (chroma classes need no finer grid, and 260 class maps at H/2 would cost 4x more).
        self.out_level = 0 if cfg.head == "regression" else 1
        levels = range(self.out_level, len(ch) - 1)
        self.up = nn.ModuleList([_conv_bn_relu(ch[i + 1], ch[i], kernel=1) for i in levels])
        self.dec = nn.ModuleList(
            [nn.Sequential(*[ResBlock(ch[i]) for _ in range(cfg.dec_blocks[i])]) for i in levels]
        )
        if cfg.head == "regression":
            self.head = nn.Conv2d(ch[0], 2 * 4, 3, padding=1)
        else:
            from .color import ab_bins, normalize_ab

            bins = torch.from_numpy(normalize_ab(ab_bins(cfg.bin_step)))  # (K, 2), normalised ab
            self.register_buffer("ab_bins", bins, persistent=False)
            self.head = nn.Conv2d(ch[1], bins.shape[0], 1)
        nn.init.zeros_(self.head.weight)  # start from "grey" (or from uniform class scores)
        nn.init.zeros_(self.head.bias)
        if cfg.paint:
            self.l_head = nn.Conv2d(ch[self.out_level], 1, 3, padding=1)
            nn.init.zeros_(self.l_head.weight)  # start as "keep the input's lightness"
            nn.init.zeros_(self.l_head.bias)
        if cfg.line_art_head:  # grown from l_head (grow_line_art_head), so it starts as that one
            self.l_head_line_art = nn.Conv2d(ch[self.out_level], 1, 3, padding=1)

    @property
    def has_unused_parameters(self) -> bool:
        """True when some parameters get no gradient: a classification head reads the decoder
        at H/4, so an EfficientNet-Lite encoder's projection of its H/2 level (``lateral.0``) is
        unused (kept so that checkpoints keep their keys). DistributedDataParallel must be told."""
        return self.out_level > 0 and self.config.encoder in LITE_REPEATS

    def encode(self, l: torch.Tensor, hints: torch.Tensor) -> list[torch.Tensor]:
        """(l, hints) -> the encoder's feature levels, (N, channels[i], H/2^(i+1), W/2^(i+1))."""
        if self.config.encoder in LITE_REPEATS:
            return [lateral(f) for lateral, f in zip(self.lateral, self.encoder(l, hints))]
        x = F.pixel_unshuffle(torch.cat([l, hints], dim=1), 2)  # (N, 16, H/2, W/2)
        x = self.enc[0](self.stem(x))  # (N, C0, H/2, W/2)
        skips = [x]
        for down, enc in zip(self.down, self.enc[1:]):
            x = enc(down(x))
            skips.append(x)
        return skips

    def forward(self, l: torch.Tensor, hints: torch.Tensor, *, return_logits: bool = False,
                return_l: bool = False, temperature: torch.Tensor | float | None = None,
                line_art: torch.Tensor | bool = False):
        """-> ab (N, 2, H, W); with ``return_logits`` -> (ab, logits (N, K, H/4, W/4) or None);
        ``temperature``: the annealed mean's T for this call (classification head; a scalar,
        default ``config.temperature``; lower = more vivid);
        with ``return_l`` the paint lightness l_paint (N, 1, H, W) (None for a tint model) is
        appended to the result, from the line-art head where ``line_art`` (a bool, or (N,) bool
        per image) says so and the model has one (:meth:`paint_lightness`)."""
        x = self.decode(l, hints)
        ab, logits = self.chroma(x, temperature)
        out: tuple = (ab, logits) if return_logits else (ab,)
        if return_l:
            out = out + (self.paint_lightness(l, x, line_art=line_art),)
        return out if len(out) > 1 else ab

    def decode(self, l: torch.Tensor, hints: torch.Tensor) -> torch.Tensor:
        """(l, hints) -> the decoder's last features (N, channels[out_level], H/f, W/f), f = 2
        (regression head) or 4 (classification)."""
        skips = self.encode(l, hints)  # [(N, Ci, H/2^(i+1), W/2^(i+1))]
        x = self.context(skips[-1])
        for j in reversed(range(len(self.dec))):
            level = self.out_level + j
            # Upsample with a named mode (bilinear), then add the skip: cheaper than concat.
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = self.dec[j](self.up[j](x) + skips[level])
        return x

    def chroma(self, x: torch.Tensor, temperature: torch.Tensor | float | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decoder features (:meth:`decode`) -> (ab (N, 2, H, W), the classification logits or None)."""
        if self.config.head == "regression":
            return F.pixel_shuffle(self.head(x), 2), None  # (N, 2, H, W)
        logits = self.head(x)  # (N, K, H/4, W/4)
        t = self.config.temperature if temperature is None else temperature
        probs = torch.softmax(logits / t, dim=1)
        # Expectation over bin centres as a fixed 1x1 convolution: (N, K, h, w) -> (N, 2, h, w).
        ab_quarter = F.conv2d(probs, self.ab_bins.t()[:, :, None, None].to(probs.dtype))
        return F.interpolate(ab_quarter, scale_factor=4.0, mode="bilinear", align_corners=False), logits

    def paint_lightness(self, l: torch.Tensor, x: torch.Tensor, *,
                        line_art: torch.Tensor | bool = False) -> torch.Tensor | None:
        """l (N, 1, H, W), decoder features x at H/f -> l_paint (N, 1, H, W) in [-1, 1]: the
        input's lightness averaged over f x f cells (screentone read as its grey) plus the head's
        correction, upsampled bilinearly. ``line_art`` (a bool, or (N,) bool per image): the
        line-art head's correction instead, where the model has one. None for a tint model."""
        if not self.config.paint:
            return None
        factor = l.shape[-1] // x.shape[-1]
        correction = self.l_head(x)
        if self.config.line_art_head and line_art is not False:  # True, or a tensor choosing per image
            other = self.l_head_line_art(x)
            correction = other if line_art is True else torch.where(
                torch.as_tensor(line_art, device=x.device).reshape(-1, 1, 1, 1), other, correction)
        l_small = torch.clamp(F.avg_pool2d(l, factor) + correction, -1.0, 1.0)
        return F.interpolate(l_small, scale_factor=float(factor), mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------------------------
# The adversary (training only; never exported)
# ----------------------------------------------------------------------------------------------
@dataclass
class DiscriminatorConfig:
    """PatchGAN (pix2pix, Isola et al. 2017) on (L, ab): each output logit judges one patch."""

    channels: int = 64  # first layer; doubles per stride-2 layer, capped at 8x
    layers: int = 3  # stride-2 layers: 3 gives 70x70 patches

    def __post_init__(self) -> None:
        if self.channels < 1 or self.layers < 1:
            raise ValueError("gan.channels and gan.layers must be at least 1")


class PatchDiscriminator(nn.Module):
    """(l (N,1,H,W), ab (N,2,H,W)) normalised -> logits (N, 1, ~H/2^layers, ~W/2^layers).

    It sees the lightness with the colour, so it judges whether these colours are plausible for
    this picture, not colours in general. Instance normalisation, not batch: a discriminator's
    batch mixes real and fake, and its statistics would leak which is which.
    """

    def __init__(self, config: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or DiscriminatorConfig()
        layers: list[nn.Module] = [nn.Conv2d(3, cfg.channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        c = cfg.channels
        for i in range(1, cfg.layers + 1):
            c_out = cfg.channels * min(2**i, 8)
            stride = 2 if i < cfg.layers else 1
            layers += [nn.Conv2d(c, c_out, 4, stride=stride, padding=1, bias=False),
                       nn.InstanceNorm2d(c_out, affine=True), nn.LeakyReLU(0.2, True)]
            c = c_out
        layers.append(nn.Conv2d(c, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([l, ab], dim=1))


def grow_paint_head(model: Generator) -> Generator:
    """A tint generator -> the same network with a new paint head (``GeneratorConfig.paint``),
    which starts as "keep the input's lightness"; every other weight is copied."""
    from dataclasses import replace

    grown = Generator(replace(model.config, paint=True))
    missing, unexpected = grown.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not key.startswith("l_head.") for key in missing):
        raise ValueError(f"cannot grow a paint head: missing {missing}, unexpected {unexpected}")
    return grown


def grow_hint_lightness(model: Generator) -> Generator:
    """A generator with hints (a, b, mask) -> the same network taking a fourth hint channel, the
    hint's lightness, whose input weights start at zero (so it begins as the model it grew from);
    every other weight is copied. ValueError for a model with other hint channels or the U-Net
    encoder (its stem interleaves the channels)."""
    from dataclasses import replace

    if model.config.hint_channels != 3 or model.config.encoder not in LITE_REPEATS:
        raise ValueError(f"cannot grow a lightness hint channel on a model with {model.config.hint_channels} hint "
                         f"channels and the {model.config.encoder} encoder (3, and efficientnet-lite, needed)")
    grown = Generator(replace(model.config, hint_channels=HINT_CHANNELS_WITH_L))
    state = dict(model.state_dict())
    stem = state["encoder.stem.0.weight"]  # (32, 1 + 3, k, k)
    state["encoder.stem.0.weight"] = torch.cat([stem, torch.zeros_like(stem[:, :1])], dim=1)
    grown.load_state_dict(state)  # strict
    return grown


def grow_line_art_head(model: Generator) -> Generator:
    """A paint generator -> the same network with a second lightness head for line art
    (``GeneratorConfig.line_art_head``), a copy of its ``l_head``, so it begins as the model it
    grew from; every other weight is copied. ValueError for a tint model."""
    from dataclasses import replace

    if not model.config.paint:
        raise ValueError("cannot grow a line-art lightness head on a tint model (it has no paint head)")
    grown = Generator(replace(model.config, line_art_head=True))
    state = dict(model.state_dict())
    state.update({key.replace("l_head.", "l_head_line_art."): value.clone()
                  for key, value in state.items() if key.startswith("l_head.")})
    grown.load_state_dict(state)  # strict
    return grown


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["ConvBN", "DiscriminatorConfig", "Generator", "GeneratorConfig", "PatchDiscriminator", "count_parameters",
           "freeze_batch_norm",
           "grow_hint_lightness", "grow_line_art_head", "grow_paint_head", "HINT_CHANNELS_WITH_L"]
