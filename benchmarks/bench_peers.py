"""CPU latency of the peer colorization networks of Zhang et al., for comparison with irodori's.

- ECCV16: "Colorful Image Colorization" (Zhang, Isola, Efros, ECCV 2016);
- SIGGRAPH17: "Real-Time User-Guided Image Colorization with Learned Deep Priors"
  (Zhang, Zhu, Isola, Geng, Lin, Yu, Efros, SIGGRAPH 2017), run in its automatic mode
  (empty hint: zero ab hints, zero mask).

The model definitions come from the PyPI package `rz-colorization` (a repackaging of
https://github.com/richzhang/colorization), built with RANDOM weights (`pretrained=False`):
their weights are downloaded from a URL at run time, which this benchmark never does.
Weights do not change the speed of these networks, so the figures are speed only.

Only the three modules that define the networks are loaded (`base_color`, `eccv16`,
`siggraph17`); the package's `__init__` also imports matplotlib, scikit-image and IPython,
none of which the networks need. `eccv16.py` has an unused `from IPython import embed`
(IPython is not even among the package's declared dependencies), so a stand-in module is
provided for it while loading when IPython is not installed.

Both networks subsample by 8 (ECCV16 with three stride-2 convolutions, SIGGRAPH17 with three
`[::2, ::2]` slices and skip connections that must line up), so a size that is not a multiple
of 8 is padded up to the next multiple of 8 (e.g. 1200x780 runs at 1200x784); the results stay
keyed by the size asked for. See `padded_size`.

Note that SIGGRAPH17's `forward`, upstream as in the package, computes its last two decoder
stages (conv9, conv10 and the output head) twice; it is timed as published.

    python benchmarks/bench_peers.py [--threads N] [--warmup 2] [--runs 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import types

from timing import median_ms  # benchmarks/timing.py: run as a script or imported by bench.py

DIST_NAME = "rz-colorization"
INSTALL_HINT = (
    "the peer benchmark needs the `rz-colorization` package and torch: "
    "pip install 'irodori[bench]'"
)
PEER_MODELS = ("ECCV16", "SIGGRAPH17")
MULTIPLE = 8  # both networks subsample by 8

_PKG = "_irodori_peer_colorizers"  # private name: never clashes with a real `colorizers` import
_cache: dict[str, types.ModuleType] = {}


def padded_size(h: int, w: int) -> tuple[int, int]:
    """The size a (h, w) request is run at: each side rounded up to a multiple of 8."""
    return (-(-h // MULTIPLE) * MULTIPLE, -(-w // MULTIPLE) * MULTIPLE)


def _load_modules() -> dict[str, types.ModuleType]:
    """Load base_color, eccv16 and siggraph17 from the installed rz-colorization, and nothing else."""
    if _cache:
        return _cache
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} (torch is missing: {exc})") from exc
    from importlib import metadata

    try:
        dist = metadata.distribution(DIST_NAME)
    except metadata.PackageNotFoundError as exc:
        raise ImportError(f"{INSTALL_HINT} ({DIST_NAME} is not installed)") from exc
    pkg_dir = os.path.dirname(str(dist.locate_file("colorizers/__init__.py")))
    files = {name: os.path.join(pkg_dir, f"{name}.py") for name in ("base_color", "eccv16", "siggraph17")}
    missing = [p for p in files.values() if not os.path.isfile(p)]
    if missing:
        raise ImportError(f"{INSTALL_HINT} (unexpected {DIST_NAME} {dist.version} layout: no {missing})")

    # A bare parent package, so that the modules' relative `from .base_color import *` resolve,
    # without running the real colorizers/__init__.py.
    parent = types.ModuleType(_PKG)
    parent.__path__ = [pkg_dir]
    parent.__package__ = _PKG
    added: list[str] = []
    if importlib.util.find_spec("IPython") is None:
        # eccv16.py does `from IPython import embed` and never uses it.
        stub = types.ModuleType("IPython")
        stub.embed = lambda *args, **kwargs: None
        sys.modules["IPython"] = stub
        added.append("IPython")
    sys.modules[_PKG] = parent
    loaded: dict[str, types.ModuleType] = {}
    try:
        for name, path in files.items():
            fullname = f"{_PKG}.{name}"
            spec = importlib.util.spec_from_file_location(fullname, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[fullname] = module
            spec.loader.exec_module(module)
            setattr(parent, name, module)
            loaded[name] = module
    except Exception as exc:
        for name in files:
            sys.modules.pop(f"{_PKG}.{name}", None)
        sys.modules.pop(_PKG, None)
        raise ImportError(f"{INSTALL_HINT} (could not load {DIST_NAME} {dist.version}: {exc!r})") from exc
    finally:
        for name in added:
            sys.modules.pop(name, None)
    _cache.update(loaded)
    return _cache


def build_peer(name: str):
    """The named peer network (eval mode, random weights; nothing is downloaded)."""
    mods = _load_modules()
    if name == "ECCV16":
        model = mods["eccv16"].eccv16(pretrained=False)
    elif name == "SIGGRAPH17":
        model = mods["siggraph17"].siggraph17(pretrained=False)
    else:
        raise ValueError(f"unknown peer model {name!r}; expected one of {PEER_MODELS}")
    return model.eval()


def peer_param_counts() -> dict[str, int]:
    """Parameter count of each peer network (as defined, including SIGGRAPH17's unused class head)."""
    counts = {}
    for name in PEER_MODELS:
        model = build_peer(name)
        counts[name] = sum(p.numel() for p in model.parameters())
    return counts


def peer_latencies(
    sizes: list[tuple[int, int]], *, threads: int, warmup: int = 2, runs: int = 5
) -> dict[str, dict[tuple[int, int], float]]:
    """Median milliseconds of one forward pass of each peer network, per (H, W) size.

    Input: a (1, 1, H, W) lightness tensor (L in [0, 100]); SIGGRAPH17 also gets its
    (1, 2, H, W) ab hints and (1, 1, H, W) hint mask, all zeros (automatic mode). Sizes that
    are not multiples of 8 are run at `padded_size(H, W)`; keys are the sizes asked for.
    Runs under torch.inference_mode with torch.set_num_threads(threads) (restored afterwards).
    Raises ImportError, with the install instruction, when rz-colorization or torch is missing.
    """
    _load_modules()
    import torch

    if threads < 1 or runs < 1 or warmup < 0:
        raise ValueError("need threads >= 1, runs >= 1 and warmup >= 0")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    results: dict[str, dict[tuple[int, int], float]] = {}
    try:
        with torch.inference_mode():
            for name in PEER_MODELS:
                model = build_peer(name)
                results[name] = {}
                for h, w in sizes:
                    ph, pw = padded_size(h, w)
                    l = 100 * torch.rand(1, 1, ph, pw, generator=gen)
                    if name == "SIGGRAPH17":
                        ab = torch.zeros(1, 2, ph, pw)
                        mask = torch.zeros(1, 1, ph, pw)
                        fn = lambda m=model, l=l, ab=ab, mask=mask: m(l, ab, mask)  # noqa: E731
                    else:
                        fn = lambda m=model, l=l: m(l)  # noqa: E731
                    results[name][(h, w)] = median_ms(fn, warmup=warmup, runs=runs)
                del model
    finally:
        torch.set_num_threads(previous_threads)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    sizes = [(256, 256), (512, 352)]
    try:
        params = peer_param_counts()
    except ImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    lat = peer_latencies(sizes, threads=args.threads, warmup=args.warmup, runs=args.runs)
    elapsed = time.perf_counter() - t0

    import torch

    from importlib import metadata

    print(
        f"# Peer networks, random weights, {DIST_NAME} {metadata.version(DIST_NAME)}, torch {torch.__version__}, "
        f"{args.threads} thread(s), median of {args.runs} after {args.warmup} warm-up"
    )
    head = ["model", "params (M)"] + [
        f"{h}x{w}" + ("" if padded_size(h, w) == (h, w) else " (run at {}x{})".format(*padded_size(h, w))) + " ms"
        for h, w in sizes
    ]
    rows = [[name, f"{params[name] / 1e6:.2f}"] + [f"{lat[name][s]:.1f}" for s in sizes] for name in PEER_MODELS]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, ["-" * n for n in widths], *rows]:
        print("  ".join(str(c).ljust(n) for c, n in zip(r, widths)))
    print(f"# timed in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
