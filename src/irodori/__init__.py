"""irodori: colour black-and-white manga pages and photographs, keeping every line of ink.

    >>> from irodori import load_colorizer, colorize
    >>> colorizer = load_colorizer()            # the default shipped models, loaded once
    >>> out = colorizer.colorize("page.png")    # PIL.Image, same size; B&W pages painted, photos tinted
    >>> out = colorize("page.png")              # one-off convenience (caches the default model)

Importing the package is cheap: heavy modules load on first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# The package's version, and only here (pyproject.toml reads it). 0.6: the package that ships the
# general v0.3 and manga v0.6 models; the model files carry their own version (`irodori --version`
# names both).
__version__ = "0.6.0"

# onnxruntime (1.2x+) otherwise keeps a device id and an event database under
# ~/.cache/Microsoft/DeveloperTools as soon as it is imported; it must be set before that import.
# ORT_DISABLE_TELEMETRY=0 in the environment keeps onnxruntime's own default.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

if TYPE_CHECKING:
    from .colorizer import Colorizer
    from .hints import HintError
    from .imageio import ImageReadError
    from .reference import ReferenceImageError
    from .registry import ModelError, ModelNotFoundError

__all__ = ["Colorizer", "HintError", "ImageReadError", "ModelError", "ModelNotFoundError", "ReferenceImageError",
           "__version__", "colorize", "load_colorizer"]
# The exceptions the API raises, importable from the package (loaded on first use, as Colorizer is).
_LAZY = {"Colorizer": "colorizer", "HintError": "hints", "ImageReadError": "imageio", "ModelError": "registry",
         "ModelNotFoundError": "registry", "ReferenceImageError": "reference"}


def load_colorizer(model: str = "auto", **kwargs: Any) -> "Colorizer":
    """Load a colorizer once ("auto": general-int8 tints photos and grey art, manga-int8 paints
    B&W pages, per image). Keywords: ``mode`` ("auto", "tint", "paint"), ``tone`` ("flat", "keep"),
    ``background``, ``max_side``, ``upsample``, ``threads``, ``max_pixels``, ``temperature``,
    ``keep_colour`` (colour inputs returned as they are); see :func:`irodori.colorizer.load_colorizer`."""
    from .colorizer import load_colorizer as _load

    return _load(model, **kwargs)


def colorize(image: Any, **kwargs: Any) -> Any:
    """Colour one image with the default models (loaded on first call, then reused; ``threads``:
    their cores). Keywords: see :func:`irodori.colorizer.colorize`."""
    from .colorizer import colorize as _colorize

    return _colorize(image, **kwargs)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
