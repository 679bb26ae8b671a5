"""The four sources of the v0.1 corpus: Endless Sky photos, Wesnoth portraits, openclipart and the
scikit-image samples.

Frozen: the shipped model and the committed figures were made from exactly what these return,
and data/corpus must stay byte-for-byte reproducible, so change nothing here that alters a
candidate (the pipeline also builds them without the filters added later: see ``SourceSpec.v01``).
"""
from __future__ import annotations

import re
from pathlib import Path

from .common import WHITE, Candidate, name_hash, pastel
from .fetch import fetch_deb, fetch_wheel
from .licences import deb_copyright, dep5_lookup

OC_SKIP_DIRS = {"shapes", "signs_and_symbols", "buttons", "logos", "special", "icons", "folders",
                "roadsigns", "cards", "smilies", "stickmen", "diagrams", "connectors"}
OC_SKIP_NAME = re.compile(r"icon|button|^bb_|arrow|logo|flag|emblem", re.IGNORECASE)
OC_BROKEN = {"duck_yellow_ii_kurt_cagl_.png", "tux_didier_fabert_01.png"}  # "Image Not Found"
# scikit-image colour samples and licences as stated in skimage/data/_fetchers.py. Not listed, so
# skipped: greyscale ones, synthetic wheel/chessboard, logo, tiny gif/tif, and the Middlebury stereo
# pair motorcycle_*.png (no licence stated).
SKIMAGE_FILES = {
    "astronaut.png": ("public-domain", "NASA (Great Images database)"),
    "chelsea.png": ("CC0-1.0", "Stefan van der Walt"),
    "coffee.png": ("CC0-1.0", "Rachel Michetti"),
    "rocket.jpg": ("public-domain", "SpaceX"),
    "hubble_deep_field.jpg": ("public-domain", "NASA / HubbleSite"),
    "retina.jpg": ("CC0-1.0", "Mikael Häggström"),
    "ihc.png": ("no-known-copyright-restrictions", "Center for Microscopy And Molecular Imaging"),
}
WESNOTH_GPL = "GNU General Public License version 2 or at your option any later version"


def src_endless_sky(cache: Path) -> list[Candidate]:
    """Landscape/city photos (720x360) from Debian endless-sky-data; licence per DEP-5 stanza."""
    pkg = "endless-sky-data"
    root, version = fetch_deb(pkg, cache)
    base = root / "usr/share/games/endless-sky"
    stanzas = deb_copyright(root, pkg)
    out = []
    for f in sorted((base / "images/land").glob("*.jpg")):
        rel = f.relative_to(base).as_posix()
        st = dep5_lookup(stanzas, rel) or {"license": "UNKNOWN", "copyright": ""}
        out.append(Candidate("endless-sky", rel, f, f.relative_to(root).as_posix(), pkg, version,
                             st["license"], "photo", st["copyright"]))
    return out


def src_wesnoth(cache: Path) -> list[Candidate]:
    """Painted portraits (RGBA 400x400) and story scenes from Debian wesnoth-1.16-data (GPL-2+).

    Portraits are composited alternately (by path hash) on white or a flat light pastel colour.
    """
    pkg = "wesnoth-1.16-data"
    root, version = fetch_deb(pkg, cache)
    text = " ".join((root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8").split())
    if WESNOTH_GPL not in text:
        raise RuntimeError(f"{pkg}: copyright file no longer states GPL-2+; re-check the licence")
    base = next((root / "usr/share/games/wesnoth").glob("*/data/core/images"))
    files = sorted(base.glob("portraits/**/*.png")) + sorted(base.glob("story/*.jpg"))
    out, seen = [], set()
    for f in files:
        rel = f.relative_to(base).as_posix()
        key = re.sub(r"[-_](flipped|flip|mirror(ed)?)$", "", f.with_suffix("").as_posix())
        if key in seen:              # keep one of "x.png" / "x-flipped.png"
            continue
        seen.add(key)
        bg = WHITE if name_hash(rel) % 2 else pastel(rel)
        out.append(Candidate("wesnoth", rel, f, f.relative_to(root).as_posix(), pkg, version,
                             "GPL-2+", "painted", "The Battle for Wesnoth artists "
                             "(data/core/images/portraits/ARTISTS)", min_opaque=0.15,
                             background=bg))
    return out


def src_openclipart(cache: Path) -> list[Candidate]:
    """Public-domain clip art from Debian openclipart-png, minus icons/shapes/signs and symlinks."""
    pkg = "openclipart-png"
    root, version = fetch_deb(pkg, cache)
    base = root / "usr/share/openclipart/png"
    out = []
    for f in sorted(base.rglob("*.png")):
        rel = f.relative_to(base).as_posix()
        if (f.is_symlink() or OC_SKIP_DIRS & set(rel.split("/")[:-1])
                or OC_SKIP_NAME.search(f.name) or f.name in OC_BROKEN):
            continue
        out.append(Candidate("openclipart", rel, f, f.relative_to(root).as_posix(), pkg, version,
                             "public-domain", "clipart", "openclipart.org contributors",
                             min_side=160))
    return out


def src_skimage(cache: Path) -> list[Candidate]:
    """Colour sample photos bundled in the scikit-image wheel (PD / CC0, see SKIMAGE_FILES)."""
    whl, version = fetch_wheel("scikit-image", cache)
    out = []
    for name in sorted(whl.namelist()):
        base = name.rsplit("/", 1)[-1]
        if name.startswith("skimage/data/") and base in SKIMAGE_FILES:
            lic, who = SKIMAGE_FILES[base]
            out.append(Candidate("skimage", name.removeprefix("skimage/"), None, name,
                                 "scikit-image", version, lic, "photo", who, data=whl.read(name)))
    return out
