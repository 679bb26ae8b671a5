"""Training data: colour images -> (L input, ab target, hints), self-supervised.

Every sample is a pure function of ``(seed, k)``, where ``k`` is the global sample number
(step, rank and position in the batch). That makes data order and augmentation independent of
worker processes and lets a resumed run see exactly the samples an uninterrupted run would.

The manga input mode turns a colour crop into what a printed, scanned manga page looks like:
flat mid-tone areas become screentone (halftone dots or lines at a random pitch and angle),
dark regions go solid black, edges get inked (XDoG-style line emphasis), and the result is
softened as a scan would be. The target stays the original colour, so a model trained on colour
art learns to read screentone as "some colour here".
"""

from __future__ import annotations

import copy
import logging
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from .color import holds_no_colour, normalize_ab, normalize_l, rgb_to_lab
from .config import DataConfig
from .color import gray8_to_l
from .imageio import IMAGE_EXTENSIONS, is_junk, load_rgb, made_by_irodori
from .printing import TRAIN_TONE_LENGTH, bw_page, manga_effect, paint_ink  # noqa: F401  (irodori.data's, as before)

log = logging.getLogger(__name__)

MIN_SIDE = 8  # the smallest random crop


def list_images(dirs: list[str] | list[Path], *, leave_out: list[str] | list[Path] = ()) -> list[Path]:
    """Every image file under the given folders (recursive: a series' chapter folders), sorted
    for reproducibility, without those under a ``leave_out`` folder (the validation folder kept
    inside the training folder: its images are held out, not trained on). FileNotFoundError for
    a folder that is not there, or a file given as one."""
    files: list[Path] = []
    skipped = [Path(d).resolve() for d in leave_out]
    for d in dirs:
        root = Path(d)
        if not root.is_dir():
            raise FileNotFoundError(f"image folder not found: {d}" if not root.exists()
                                    else f"{d} is a file, not a folder of images")
        inner = [s for s in skipped if root.resolve() in s.parents]
        files.extend(
            p for p in root.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not is_junk(p.relative_to(root))
            and not any(s in p.resolve().parents for s in inner)
        )
    return sorted(set(files))


def list_pairs(dirs: list[str] | list[Path], unmatched: list[str] | None = None) -> dict[Path, Path]:
    """Paired folders (``input/`` black-and-white, ``truth/`` colour; the layout of the
    evaluation sets) -> {truth file: input file}, sorted. A truth and an input pair up by their
    path under ``truth/`` and ``input/`` without the extension (``truth/p1.jpg`` with
    ``input/p1.png``), as :func:`irodori.evaluate.list_pairs` pairs them; the files left without
    a partner, or whose name two inputs share, are appended to ``unmatched`` ("path (why)"),
    when given. FileNotFoundError for a folder without input/ and truth/."""
    pairs: dict[Path, Path] = {}
    for d in dirs:
        root = Path(d)
        if not (root / "input").is_dir() or not (root / "truth").is_dir():
            raise FileNotFoundError(f"paired folder needs input/ and truth/: {d}")
        inputs: dict[str, list[Path]] = {}
        for bw in list_images([root / "input"]):
            inputs.setdefault(bw.relative_to(root / "input").with_suffix("").as_posix(), []).append(bw)
        used: set[str] = set()
        for truth in list_images([root / "truth"]):
            key = truth.relative_to(root / "truth").with_suffix("").as_posix()
            found = inputs.get(key, [])
            if len(found) == 1:
                pairs[truth] = found[0]
            elif unmatched is not None:
                why = "no input/ file of that name" if not found else f"{len(found)} input/ files of that name"
                unmatched.append(f"{truth} ({why})")
            used.add(key)
        if unmatched is not None:
            unmatched.extend(f"{bw} (no truth/ file of that name)"
                             for key, files in inputs.items() if key not in used for bw in files)
    return dict(sorted(pairs.items()))


def upright_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file as it is shown: its header's size, turned by the EXIF
    orientation (5-8 swap the sides). Headers only; OSError, ValueError or SyntaxError when
    unreadable."""
    from .imageio import quiet

    with quiet(UserWarning), Image.open(path) as img:  # a damaged EXIF: Pillow's warning names no file
        (width, height), orientation = img.size, img.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


PAIR_ASPECT_TOLERANCE = 0.02  # an input and its truth may differ this much in aspect ratio (resolution may differ)


def usable_pairs(pairs: dict[Path, Path]) -> tuple[dict[Path, Path], list[str]]:
    """-> (the pairs whose input's header reads, with the truth's shape, "path (why)" for the
    others). An input of another resolution is resized to its truth; one of another shape
    (aspect ratio apart by more than PAIR_ASPECT_TOLERANCE, EXIF orientation applied) would be
    stretched, and is left out."""
    kept: dict[Path, Path] = {}
    problems: list[str] = []
    for truth, bw in pairs.items():
        try:
            (wt, ht), (wb, hb) = upright_size(truth), upright_size(bw)
        except (OSError, ValueError, SyntaxError) as exc:
            problems.append(f"{bw} (not a readable image: {exc})")
            continue
        if abs(math.log((wb / hb) / (wt / ht))) > PAIR_ASPECT_TOLERANCE:
            problems.append(f"{bw} ({wb}x{hb} is not the shape of its truth, {wt}x{ht})")
            continue
        kept[truth] = bw
    return kept, problems


GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")  # Pillow modes without colour


def usable_images(files: list[Path], grey: list[Path] | None = None,
                  ours: list[Path] | None = None) -> tuple[list[Path], list[str]]:
    """-> (the files whose header Pillow reads and whose shorter side is at least MIN_SIDE px,
    "path (why)" for the others). Headers only, and a JPEG's or PNG's last bytes (one cut short
    is decoded, and skipped when it fails): a few thousand files take about a second. Kept
    files whose header says they hold no colour (a grey or 1-bit mode) are also appended to
    ``grey``, when given: they teach no colour. Irodori's own outputs
    (:func:`irodori.imageio.made_by_irodori`) are left out and appended to ``ours``, when given."""
    kept: list[Path] = []
    problems: list[str] = []
    for path in files:
        if path.stat().st_size == 0:
            problems.append(f"{path} (an empty file, 0 bytes)")
            continue
        try:
            with Image.open(path) as img:
                size, mode = img.size, img.mode
                if ours is not None and made_by_irodori(img):
                    ours.append(path)
                    continue
                if not _ends_whole(path, img.format):
                    img.load()  # the end marker is missing: decode it to tell a cut file from trailing bytes
        except (OSError, ValueError, SyntaxError) as exc:
            problems.append(f"{path} (not a readable image: {exc})")
            continue
        if min(size) < MIN_SIDE:
            problems.append(f"{path} ({size[0]}x{size[1]}: a side under {MIN_SIDE} px)")
            continue
        kept.append(path)
        if grey is not None and mode in GREY_MODES:
            grey.append(path)
    return kept, problems


# The bytes a whole file of these formats ends with: JPEG's end-of-image marker, PNG's IEND chunk.
END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82"}


def _ends_whole(path: Path, fmt: str | None) -> bool:
    """Whether ``path`` (a JPEG or PNG) ends with its format's end marker, read from its last bytes
    only; True for other formats. A file cut short (a download stopped, a full disk) lacks it, but
    so do some whole files (a camera's bytes after the JPEG's end), so a False is a reason to
    decode the file, not a verdict."""
    marker = END_MARKERS.get(fmt or "")
    if marker is None:
        return True
    with open(path, "rb") as fp:
        fp.seek(max(0, path.stat().st_size - len(marker)))
        return fp.read() == marker


COLOURLESS_SAMPLE = 256  # files looked at by colourless(), evenly spaced


def colourless(files: list[Path], *, most: int = COLOURLESS_SAMPLE) -> tuple[list[Path], int]:
    """Files whose mode holds colour but whose pixels do not (a grey scan saved as RGB or JPEG
    colour: :func:`irodori.color.holds_no_colour`) -> (those of up to ``most`` files looked at, evenly
    spaced; how many were looked at). Decoded reduced (a JPEG's draft), a few ms each; an
    unreadable one is left to the training's own warning."""
    step = max(1, math.ceil(len(files) / most))
    looked = files[::step]
    found = []
    for path in looked:
        try:
            with Image.open(path) as img:
                img.draft("RGB", (128, 128))
                small = img.convert("RGB")
                small.thumbnail((128, 128))
        except (OSError, ValueError, SyntaxError):
            continue
        if holds_no_colour(np.asarray(small)):
            found.append(path)
    return found, len(looked)


# ----------------------------------------------------------------------------------------------
# Simulated hints (Zhang et al. 2017): small patches revealed from the ground-truth ab
# ----------------------------------------------------------------------------------------------
def simulate_hints(ab: np.ndarray, rng: np.random.Generator, *, max_hints: int,
                   l: np.ndarray | None = None) -> np.ndarray:
    """ab (2, H, W) in Lab units -> hints (3, H, W): normalised (a, b) * mask and the mask; with
    ``l`` (H, W), the true L, a fourth channel: the normalised L * mask (``model.hint_channels``
    4, :data:`irodori.hints.HINT_CHANNELS_WITH_L`). The random draws are the same either way."""
    _, h, w = ab.shape
    hints = np.zeros((3 if l is None else 4, h, w), dtype=np.float32)
    n = int(min(max_hints, rng.geometric(0.125)))
    for _ in range(n):
        size = int(rng.integers(1, 5))
        # Points near the centre are more common, as users click on objects, not borders.
        y = int(np.clip(rng.normal(h / 2, h / 4), 0, h - size))
        x = int(np.clip(rng.normal(w / 2, w / 4), 0, w - size))
        mean_ab = ab[:, y : y + size, x : x + size].reshape(2, -1).mean(axis=1)
        hints[0:2, y : y + size, x : x + size] = normalize_ab(mean_ab)[:, None, None]
        hints[2, y : y + size, x : x + size] = 1.0
        if l is not None:
            hints[3, y : y + size, x : x + size] = normalize_l(l[y : y + size, x : x + size].mean())
    return hints


# ----------------------------------------------------------------------------------------------
# Dataset and sampler
# ----------------------------------------------------------------------------------------------
def random_crop(img: Image.Image, rng: np.random.Generator, *, size: int, scale_min: float,
                rotate_deg: float = 0.0) -> Image.Image:
    """Random square crop (side a random fraction of the short side), resized to size, random
    horizontal flip; with ``rotate_deg`` > 0 also turned by an angle uniform in +-rotate_deg
    (a page scanned askew): a square region ``|cos| + |sin|`` times larger is reduced, turned
    about its centre and cropped, so no corner is empty. Without rotation the random draws are
    those of earlier versions (same samples)."""
    w, h = img.size
    short = min(w, h)
    side = max(8, int(short * rng.uniform(scale_min, 1.0)))
    angle = float(rng.uniform(-rotate_deg, rotate_deg)) if rotate_deg > 0 else 0.0
    grow = abs(math.cos(math.radians(angle))) + abs(math.sin(math.radians(angle)))
    box_side = min(short, int(round(side * grow)))
    x0 = int(rng.integers(0, w - box_side + 1))
    y0 = int(rng.integers(0, h - box_side + 1))
    if angle:
        big = int(math.ceil(size * grow))
        region = img.resize((big, big), Image.BILINEAR, box=(x0, y0, x0 + box_side, y0 + box_side), reducing_gap=2.0)
        off = (big - size) // 2
        crop = region.rotate(angle, Image.BILINEAR).crop((off, off, off + size, off + size))
    else:
        crop = img.resize((size, size), Image.BILINEAR, box=(x0, y0, x0 + side, y0 + side), reducing_gap=2.0)
    if rng.random() < 0.5:
        crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
    return crop


def make_sample(rgb: np.ndarray, rng: np.random.Generator, cfg: DataConfig, *,
                l_given: np.ndarray | None = None, hint_channels: int = 3) -> dict[str, np.ndarray]:
    """RGB uint8 (H, W, 3) -> network tensors (numpy, float32, CHW). ``l_given`` (H, W), the L
    of a real black-and-white version of the image (a paired line art), is its paint input.
    ``hint_channels`` 4 gives the hints the true L too (:func:`simulate_hints`).

    l      (1, H, W)  normalised input lightness (manga-rendered when the manga mode fires)
    ab     (2, H, W)  normalised ground-truth chroma
    hints  (C, H, W)  simulated hints or zeros, C = 3 (a, b, mask) or 4 (and L)
    l_true (1, H, W)  normalised true lightness (the paint target; sample sheets)
    l_ink  (1, H, W)  normalised ink layer of the input (paint samples: the B&W page with its
                      tone flattened, paper levelled; others: the input itself), so the paint
                      loss scores the composite min(l_paint, l_ink) the user sees
    line_art (1,)     1.0 for line art (a paired line art, or a page drawn as outlines alone),
                      whose lightness a model's line-art head predicts; else 0.0
    """
    lab = rgb_to_lab(rgb)
    l_true = lab[..., 0]
    ab = np.ascontiguousarray(lab[..., 1:].transpose(2, 0, 1))
    line_art = l_given is not None
    if l_given is not None:
        l_in = l_given
        l_ink = paint_ink(l_in)
    elif cfg.paint_prob and rng.random() < cfg.paint_prob:
        line_art = rng.random() < cfg.lineart_share
        l_in = bw_page(l_true, rng, lineart=line_art)
        l_ink = paint_ink(l_in)
    else:
        l_in = manga_effect(l_true, rng) if rng.random() < cfg.manga_prob else l_true
        l_ink = l_in
    with_l = hint_channels == 4
    if rng.random() < cfg.hint_prob:
        hints = simulate_hints(ab, rng, max_hints=cfg.max_hints, l=l_true if with_l else None)
    else:
        hints = np.zeros((4 if with_l else 3,) + l_true.shape, dtype=np.float32)
    return {
        "l": normalize_l(l_in)[None].astype(np.float32),
        "ab": normalize_ab(ab).astype(np.float32),
        "hints": hints,
        "l_true": normalize_l(l_true)[None].astype(np.float32),
        "l_ink": normalize_l(l_ink)[None].astype(np.float32),
        "line_art": np.array([float(line_art)], dtype=np.float32),
    }


def cache_short_side(cfg: DataConfig) -> int:
    """The short side (px) :class:`ImageCache` reduces images to: the smallest random crop
    (``scale_min`` of the short side) is then ``crop_size`` px, so no crop is upsampled that the
    original would not have been."""
    return math.ceil(cfg.crop_size / cfg.scale_min)


class ImageCache:
    """Decoded RGB images kept in memory, each reduced (Lanczos) so its short side is at most
    ``short_side`` px, up to ``max_bytes`` of pixels; past that, images are decoded per call
    (logged once). One per process: a DataLoader worker fills its own copy."""

    def __init__(self, *, short_side: int, max_bytes: int) -> None:
        self.short_side, self.max_bytes = short_side, max_bytes
        self.images: dict[Path, Image.Image] = {}
        self.nbytes = 0
        self._warned = False

    def get(self, path: Path) -> Image.Image:
        """The RGB image of ``path``, reduced; raises what :func:`load_rgb` raises."""
        img = self.images.get(path)
        if img is not None:
            return img
        img = reduce_image(load_rgb(path), self.short_side)
        size = img.width * img.height * 3
        if self.nbytes + size <= self.max_bytes:
            self.images[path] = img
            self.nbytes += size
        elif not self._warned:
            self._warned = True
            log.warning("data cache full (%d images, %.0f MiB; data.cache_mb): further images are decoded "
                        "for every sample", len(self.images), self.nbytes / 2**20)
        return img


def reduce_image(img: Image.Image, short_side: int) -> Image.Image:
    """``img`` reduced (Lanczos) so its short side is ``short_side`` px; smaller ones unchanged."""
    w, h = img.size
    if min(w, h) <= short_side:
        return img
    scale = short_side / min(w, h)
    return img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS, reducing_gap=3.0)


class ColorImageDataset(Dataset):
    """Indexed by ``(k, file_index)`` pairs from :class:`StepSampler`. ``pairs`` maps a colour
    file to its real black-and-white version (:func:`list_pairs`): both are cropped alike and
    the B&W one is the input (paint training on real line art)."""

    def __init__(self, files: list[Path], cfg: DataConfig, *, seed: int,
                 pairs: dict[Path, Path] | None = None, hint_channels: int = 3) -> None:
        if not files:
            raise ValueError("no training images found")
        self.files = files
        self._unreadable: set[Path] = set()  # files whose pixels did not decode (warned about once)
        self.cfg = cfg
        self.seed = seed
        self.pairs = pairs or {}
        self.hint_channels = hint_channels
        self.cache = (ImageCache(short_side=cache_short_side(cfg), max_bytes=cfg.cache_mb * 2**20)
                      if cfg.cache_mb else None)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        k, index = key
        rng = np.random.default_rng([self.seed, k])
        img, grey = self._load(index)
        l_given = None
        if grey is not None:  # crop both alike: the same random draws for the B&W version
            twin = copy.deepcopy(rng)
            bw_crop = random_crop(grey, twin, size=self.cfg.crop_size, scale_min=self.cfg.scale_min,
                                  rotate_deg=self.cfg.rotate_deg)
            l_given = gray8_to_l(np.asarray(bw_crop))
        crop = random_crop(img, rng, size=self.cfg.crop_size, scale_min=self.cfg.scale_min,
                           rotate_deg=self.cfg.rotate_deg)
        sample = make_sample(np.asarray(crop), rng, self.cfg, l_given=l_given, hint_channels=self.hint_channels)
        return {name: torch.from_numpy(value) for name, value in sample.items()}

    def _load(self, index: int) -> tuple[Image.Image, Image.Image | None]:
        """The image at ``index`` and its B&W version (mode L, the same size) when it has one.
        One whose header read but whose pixels do not (a truncated file, its own or its input's)
        is replaced by the next readable one, the same one every time (so runs stay
        reproducible), with a warning the first time (per data process), not at every draw."""
        unreadable = self._unreadable
        for offset in range(len(self.files)):
            path = self.files[(index + offset) % len(self.files)]
            if path in unreadable:
                continue
            reading = path
            try:
                img = self._read(path)
                bw = self.pairs.get(path)
                if bw is None:
                    return img, None
                reading = bw
                grey = self._read(bw).convert("L")  # as evaluate reads it: EXIF orientation, 16-bit, alpha
                return img, grey if grey.size == img.size else grey.resize(img.size, Image.LANCZOS)
            except (OSError, ValueError, SyntaxError) as exc:
                unreadable.add(path)
                log.warning("skipping %s: %s (the next image is used in its place)", reading, exc)
        raise ValueError("no training image could be read")

    def _read(self, path: Path) -> Image.Image:
        return self.cache.get(path) if self.cache is not None else load_rgb(path)


class StepSampler(Sampler):
    """Infinite stream of ``(k, file_index)`` for one rank, starting at ``start_step``.

    Global sample number k = (step * world + rank) * batch + i. Files are visited in a fresh
    permutation per epoch (seeded by (seed, epoch)), so all ranks together see every file once
    per epoch and a resumed run continues the exact sequence.
    """

    def __init__(self, n_files: int, *, batch_size: int, seed: int, rank: int = 0,
                 world_size: int = 1, start_step: int = 0) -> None:
        self.n = n_files
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start_step = start_step
        self._perm_epoch = -1
        self._perm: np.ndarray | None = None

    def _file_for(self, k: int) -> int:
        epoch = k // self.n
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, 7919, epoch]).permutation(self.n)
            self._perm_epoch = epoch
        return int(self._perm[k % self.n])

    def __iter__(self):
        step = self.start_step
        while True:
            base = (step * self.world_size + self.rank) * self.batch_size
            for i in range(self.batch_size):
                yield (base + i, self._file_for(base + i))
            step += 1


class SyntheticDataset(Dataset):
    """Procedural colour images for ``--dry-run``: smooth colour fields with shapes and lines."""

    def __init__(self, cfg: DataConfig, *, seed: int, n: int = 64, hint_channels: int = 3) -> None:
        self.cfg = cfg
        self.seed = seed
        self.n = n
        self.hint_channels = hint_channels

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        k, index = key
        rng = np.random.default_rng([self.seed, k])
        s = self.cfg.crop_size
        yy, xx = np.mgrid[0:s, 0:s] / s
        base = np.random.default_rng([self.seed, 1, index]).random((2, 3))
        rgb = base[0] * (1 - yy[..., None]) + base[1] * yy[..., None]
        cy, cx, r = rng.random(3) * [s, s, s / 3]
        disk = (np.mgrid[0:s, 0:s][0] - cy) ** 2 + (np.mgrid[0:s, 0:s][1] - cx) ** 2 < r**2
        rgb[disk] = rng.random(3)
        rgb[:, int(xx[0, int(rng.integers(0, s))] * s)] = 0.05  # an ink line
        sample = make_sample((rgb * 255).astype(np.uint8), rng, self.cfg, hint_channels=self.hint_channels)
        return {name: torch.from_numpy(value) for name, value in sample.items()}
