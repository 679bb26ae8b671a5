"""Art and textures of free games, added after v0.1: SuperTuxKart textures, the Wesnoth campaigns,
Naev, Flare and 0 A.D. (portraits and terrain, decoded straight from its zip archive).
"""
from __future__ import annotations

import functools
import io
import re
import zipfile
from pathlib import Path

from PIL import Image

from .common import WHITE, Candidate, white_or_pastel
from .fetch import fetch_deb
from .licences import deb_copyright, dep5_lookup, norm_license
from .sources_v01 import WESNOTH_GPL

# SuperTuxKart texture names that are not colour pictures: normal/gloss/specular/AO maps, masks,
# light maps, effects, GUI, and character UV atlases (Sara, Kiki).
STK_SKIP = re.compile(r"(^|[-_.])(nm|n|normals?|gloss|spec(ular)?|(colou?r)?mask|ao|lightmap|"
                      r"alpha|emit|em)($|[-_.])|screenshot|icon|minimap|glow|halo|flare|particle|"
                      r"skidmark|smoke|spark|^(sara|kiki|cloth)_|_dif+$", re.IGNORECASE)
WESNOTH_CAMPAIGNS = ("did", "dm", "dw", "ei", "httt", "l", "low", "nr", "sof", "sota", "sotbe",
                     "thot", "trow", "tsg", "ttb", "utbs")


def src_supertuxkart(cache: Path) -> list[Candidate]:
    """Photo-derived tiling textures (stone, wood, bark, ground, sky) of SuperTuxKart, licence per
    DEP-5 stanza. Opaque ones only; normal maps, masks, effects and character atlases are dropped
    by name here and by content in process()."""
    pkg = "supertuxkart-data"
    root, version = fetch_deb(pkg, cache)
    stanzas = deb_copyright(root, pkg)
    base = root / "usr/share/games/supertuxkart"
    files = [f for pat in ("data/textures/*", "data/tracks/*/*") for f in sorted(base.glob(pat))
             if f.suffix.lower() in (".png", ".jpg", ".jpeg") and not STK_SKIP.search(f.stem)]
    out = []
    for f in files:
        rel = f.relative_to(base).as_posix()
        st = dep5_lookup(stanzas, rel)
        out.append(Candidate("supertuxkart", rel, f, f.relative_to(root).as_posix(), pkg, version,
                             norm_license(st["license"]), "photo", st["copyright"],
                             min_opaque=0.97))
    return out


def src_wesnoth_campaigns(cache: Path) -> list[Candidate]:
    """Painted portraits, story scenes and maps of the Wesnoth campaigns (the 16 campaign packages
    and the tutorial in wesnoth-1.16-data) and the core maps; GPL-2+ like the core art."""
    out, seen = [], set()
    for pkg in ("wesnoth-1.16-data", *(f"wesnoth-1.16-{c}" for c in WESNOTH_CAMPAIGNS)):
        root, version = fetch_deb(pkg, cache)
        text = (root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8")
        if WESNOTH_GPL not in " ".join(text.split()):
            raise RuntimeError(f"{pkg}: copyright file no longer states GPL-2+; re-check")
        base = next((root / "usr/share/games/wesnoth").glob("*/data"))
        pats = ["campaigns/*/images/portraits/**/*.png", "campaigns/*/images/story/**/*",
                "campaigns/*/images/maps/*"]
        pats += ["core/images/maps/*"] if pkg == "wesnoth-1.16-data" else []
        for f in (f for pat in pats for f in sorted(base.glob(pat))):
            rel = f.relative_to(base).as_posix()
            key = re.sub(r"[-_](flipped|flip|mirror(ed)?)$", "", f.with_suffix("").as_posix())
            if (f.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp") or "/l10n/" in rel
                    or key in seen):
                continue
            seen.add(key)
            portrait = "/portraits/" in rel
            out.append(Candidate("wesnoth-campaigns", rel, f, f.relative_to(root).as_posix(), pkg,
                                 version, "GPL-2+", "painted", "The Battle for Wesnoth artists",
                                 min_opaque=0.15 if portrait else 0.0,
                                 background=white_or_pastel(rel) if portrait else WHITE))
    return out


def src_naev(cache: Path) -> list[Candidate]:
    """Painted/rendered portraits (176) and planet-surface scenes (68) of Naev; licence per file
    (PD / CC-BY / CC-BY-SA / GPL) from the DEP-5 stanzas, which name files as ``./dat/...``."""
    pkg = "naev-data"
    root, version = fetch_deb(pkg, cache)
    stanzas = deb_copyright(root, pkg)
    base = root / "usr/share/naev"
    files = sorted(base.glob("dat/gfx/portraits/**/*.png")) + sorted(
        base.glob("dat/gfx/planet/exterior/*.png"))
    out = []
    for f in files:
        rel = f.relative_to(base).as_posix()
        st = dep5_lookup(stanzas, "./" + rel)
        portrait = "/portraits/" in rel
        out.append(Candidate("naev", rel, f, f.relative_to(root).as_posix(), pkg, version,
                             norm_license(st["license"]), "painted", st["copyright"],
                             min_opaque=0.15 if portrait else 0.0,
                             background=white_or_pastel(rel) if portrait else WHITE))
    return out


def src_flare(cache: Path) -> list[Candidate]:
    """Painted portraits (320x320, alpha) and cutscene art of Flare (CC-BY-SA-3.0+, DEP-5 ``*``)."""
    pkg = "flare-game"
    root, version = fetch_deb(pkg, cache)
    stanzas = deb_copyright(root, pkg)
    base = root / "usr/share/games/flare"
    files = sorted(base.glob("mods/*/images/portraits/*.png")) + sorted(
        base.glob("mods/*/images/cutscenes/*.png"))
    out = []
    for f in files:
        rel = f.relative_to(base).as_posix()
        st = dep5_lookup(stanzas, rel)
        out.append(Candidate("flare", rel, f, f.relative_to(root).as_posix(), pkg, version,
                             st["license"], "painted",
                             f"{st['copyright']} (mods/*/cutscenes/credits.txt)",
                             min_opaque=0.15, background=white_or_pastel(rel)))
    return out


@functools.lru_cache(maxsize=1)
def _open_zip(path: Path) -> zipfile.ZipFile:
    """One open handle per archive: 0 A.D.'s public.zip is 3.3 GB with 36,000 members."""
    return zipfile.ZipFile(path)


def zip_image(path: Path, member: str, *, drop_alpha: bool = False) -> Image.Image:
    """Decode one image stored in a zip archive (0 A.D. ships DXT-compressed DDS, which Pillow
    reads). ``drop_alpha`` for textures whose alpha channel holds something other than coverage."""
    im = Image.open(io.BytesIO(_open_zip(path).read(member)))
    return im.convert("RGB") if drop_alpha else im


def _zero_ad(cache: Path, name: str, prefixes: tuple[str, ...], *, kind: str,
             skip: re.Pattern | None = None, **extra) -> list[Candidate]:
    """Candidates of the DDS images in 0 A.D.'s public.zip below ``prefixes`` (CC-BY-SA-3.0, the
    package's ``Files: *`` stanza; copyright Wildfire Games)."""
    pkg = "0ad-data"
    root, version = fetch_deb(pkg, cache)
    st = dep5_lookup(deb_copyright(root, pkg), "binaries/data/mods/public/art")
    archive = root / "usr/share/games/0ad/mods/public/public.zip"
    inside = archive.relative_to(root).as_posix()
    out = []
    for member in sorted(_open_zip(archive).namelist()):
        rel = member.removesuffix(".cached.dds")
        if (member.endswith(".dds") and member.startswith(prefixes)
                and not (skip and skip.search(rel))):
            out.append(Candidate(name, rel, None, f"{inside}:{member}", pkg, version,
                                 st["license"], kind,
                                 f"{st['copyright']} (0 A.D.)",
                                 load=functools.partial(zip_image, archive, member,
                                                        drop_alpha=kind == "photo"), **extra))
    return out


def src_0ad_portraits(cache: Path) -> list[Candidate]:
    """0 A.D.'s painted/rendered unit and animal portraits (256x256, 128x128 for animals)."""
    return _zero_ad(cache, "0ad-portraits", ("art/textures/ui/session/portraits/units/",
                                             "art/textures/ui/session/portraits/gaia/"),
                    kind="painted")


def src_0ad_terrain(cache: Path) -> list[Candidate]:
    """0 A.D.'s photo-based terrain textures (512-2048 px), without normal and specular maps."""
    return _zero_ad(cache, "0ad-terrain", ("art/textures/terrain/types/",), kind="photo",
                    skip=re.compile(r"_(norm|spec|normal|specular)\b|test", re.IGNORECASE))
