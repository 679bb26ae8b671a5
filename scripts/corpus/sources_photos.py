"""Photo sources added after v0.1: GCompris's images (its photos and, from the same .rcc files,
its inked cartoons), photo wallpapers, Tux Paint's templates and the PyPI sample photos.

Each ``src_*`` returns the package's candidates with the licence stated for each file; a file
without one gets licence "" and the pipeline skips it.
"""
from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Callable
from pathlib import Path

from .common import WHITE, Candidate
from .fetch import fetch_deb, fetch_wheel
from .licences import (
    deb_copyright,
    dep5_lookup,
    dep5_specific,
    norm_license,
    parse_gcompris_readme,
)
from .rcc import read_rcc

# GCompris images (paths below src/activities/ inside the .rcc files) that are whole photos or
# paintings. Left out: the paintings/ and details/ puzzle pieces (only details' *_background, the
# whole picture, is kept), babyshapes cut-outs, planet renders, hands, and the ~2,160 SVGs (UI art).
GC_PHOTOS = (*(f"categorization/resource/images/{d}/*"
               for d in ("fishes", "monuments", "others", "renewable", "tools")),
             "explore_monuments/resource/*/*",
             "explore_farm_animals/resource/animals/*", "explore_world_animals/resource/animals/*",
             "explore_world_music/resource/music/*", "erase/resource/*", "clickgame/resource/sea*",
             "details/resource/image/*_background.*")
GC_CARTOONS = ("lang/resource/words_sample/*",)     # ink outline + watercolour, 600x600
GC_PAINTING = re.compile(r"Gogh|Tanguy|Auvers")     # details backgrounds that are paintings
LOMIRI_NOT_PHOTOS = {"analogpattern_by_Peter_Nerlich.jpg"}
# plasma-workspace-wallpapers: the photographs among its 30 wallpapers (the rest is abstract art).
PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
                 "FallenLeaf", "Grey", "Kite", "OneStandsOut", "Path", "Volna", "summer_1am")


@functools.lru_cache(maxsize=2)
def gcompris_images(cache: Path) -> tuple[str, list[tuple[str, str, bytes, dict]]]:
    """Every raster image inside GCompris's .rcc files with its licence stanza: (version,
    [(rcc file name, path below the source tree's src/, bytes, {"license", "copyright"})]).

    The licence of a file is the one in the README shipped next to it inside the .rcc (upstream's
    per-file record, kept in step with the files); else the Debian copyright stanza naming that
    file (it still lists several files by their pre-WebP .jpg/.png names, and some by pictures an
    earlier release shipped under the same name, so it comes second). A file covered only by the
    package-wide ``Files: *`` (GPL-3+, which the Debian maintainer *assumes* where upstream is
    silent) gets licence "" and is skipped by the pipeline.
    """
    pkg = "gcompris-qt-data"
    root, version = fetch_deb(pkg, cache)
    stanzas = deb_copyright(root, pkg)
    out = []
    for rcc in sorted((root / "usr/share/gcompris-qt/rcc").glob("*.rcc")):
        files = read_rcc(rcc.read_bytes())
        readmes = {p.rsplit("/", 1)[0]: parse_gcompris_readme(b.decode("utf-8", "replace"))
                   for p, b in files.items() if p.rsplit("/", 1)[-1].lower() == "readme"}
        for path, blob in sorted(files.items()):
            if not re.search(r"\.(webp|png|jpe?g)$", path, re.IGNORECASE):
                continue
            rel = path.removeprefix("gcompris/")
            stanza, folder = None, path.rsplit("/", 1)[0]
            while folder and stanza is None:          # README of the folder or an ancestor
                stanza = readmes.get(folder, {}).get(path[len(folder) + 1:])
                folder = folder.rsplit("/", 1)[0] if "/" in folder else ""
            if stanza:     # "based on an original image by X, CC-BY-SA 3.0" is provenance too
                who = stanza["copyright"] + (f" ({stanza['source']})" if stanza["source"] else "")
                if "original" in stanza["comment"]:
                    who += f"; {stanza['comment']}"
                stanza = {"license": stanza["license"], "copyright": who}
            else:
                stem = rel.rsplit(".", 1)[0]
                stanza = next((dict(st) for ext in (".jpg", ".jpeg", ".png", ".webp", ".JPG")
                               if (st := dep5_specific(stanzas, stem + ext))),
                              {"license": "", "copyright": ""})
                stanza["license"] = norm_license(stanza["license"]) if stanza["license"] else ""
            out.append((rcc.name, rel, blob, stanza))
    return version, out


def _gcompris(cache: Path, name: str, patterns: tuple[str, ...], *,
              kind: Callable[[str], str], **extra) -> list[Candidate]:
    """Candidates of the GCompris images whose path below src/activities/ matches ``patterns``."""
    version, files = gcompris_images(cache)
    out = []
    for rcc, rel, blob, st in files:
        below = rel.removeprefix("src/activities/")
        if any(fnmatch.fnmatchcase(below, p) for p in patterns):
            inside = f"usr/share/gcompris-qt/rcc/{rcc}:/gcompris/{rel}"
            out.append(Candidate(name, rel, None, inside, "gcompris-qt-data", version,
                                 st["license"], kind(rel), st["copyright"], data=blob, **extra))
    return out


def src_gcompris_photos(cache: Path) -> list[Candidate]:
    """Photos (animals, monuments, tools, fish, ...) and a few paintings from GCompris's .rcc."""
    return _gcompris(cache, "gcompris-photos", GC_PHOTOS,
                     kind=lambda rel: "painted" if GC_PAINTING.search(rel) else "photo")


def src_gcompris_cartoons(cache: Path) -> list[Candidate]:
    """The 116 ink-outline + watercolour cartoons of GCompris's vocabulary activity (CC-BY-SA-3.0,
    Arts4Apps): the closest thing to coloured comics in any registry."""
    return _gcompris(cache, "gcompris-cartoons", GC_CARTOONS, kind=lambda rel: "lineart",
                     min_opaque=0.1, background=WHITE)


def src_wallpapers(cache: Path) -> list[Candidate]:
    """Photo wallpapers: lomiri-wallpapers-16.04 (CC-BY / CC-BY-SA / CC0 per file),
    mate-backgrounds nature/ (GPL-2+) and the photographs of plasma-workspace-wallpapers (GPL-2+,
    the largest size of each). Large originals: the pipeline reduces them to the training size."""
    out = []
    pkg = "lomiri-wallpapers-16.04"
    root, version = fetch_deb(pkg, cache)
    stanzas = deb_copyright(root, pkg)
    for f in sorted((root / "usr/share/backgrounds").glob("*.jpg")):
        if f.name not in LOMIRI_NOT_PHOTOS:
            st = dep5_specific(stanzas, f"16.04/{f.name}") or {"license": "", "copyright": ""}
            out.append(Candidate("wallpapers", f"lomiri/{f.name}", f,
                                 f.relative_to(root).as_posix(), pkg, version, st["license"],
                                 "photo", st["copyright"]))
    pkg = "mate-backgrounds"
    root, version = fetch_deb(pkg, cache)
    stanzas = deb_copyright(root, pkg)
    for f in sorted((root / "usr/share/backgrounds/mate/nature").glob("*.jpg")):
        st = dep5_specific(stanzas, f"nature/{f.name}") or {"license": "", "copyright": ""}
        out.append(Candidate("wallpapers", f"mate/nature/{f.name}", f,
                             f.relative_to(root).as_posix(), pkg, version, st["license"], "photo",
                             st["copyright"]))
    pkg = "plasma-workspace-wallpapers"
    root, version = fetch_deb(pkg, cache)
    stanzas = deb_copyright(root, pkg)
    for name in PLASMA_PHOTOS:
        d = root / "usr/share/wallpapers" / name
        sizes = {f: [int(x) for x in re.findall(r"\d+", f.stem)]       # "5120x2880.png"
                 for f in (d / "contents/images").iterdir()}
        f = max(sizes, key=lambda p: sizes[p][0] * sizes[p][1])
        meta = json.loads((d / "metadata.json").read_text(encoding="utf-8"))
        who = ", ".join(a.get("Name", "") for a in meta.get("KPlugin", {}).get("Authors", []))
        st = dep5_lookup(stanzas, f"{name}/contents/images/{f.name}")
        out.append(Candidate("wallpapers", f"plasma/{name}/{f.name}", f,
                             f.relative_to(root).as_posix(), pkg, version, st["license"], "photo",
                             f"{who} (KDE Visual Design Group)"))
    return out


def src_tuxpaint(cache: Path) -> list[Candidate]:
    """The 19 photo templates of Tux Paint (GPL-2+; photos by Bill Kendrick per AUTHORS.txt)."""
    pkg = "tuxpaint-data"
    root, version = fetch_deb(pkg, cache)
    stanzas = deb_copyright(root, pkg)
    base = root / "usr/share/tuxpaint"
    return [Candidate("tuxpaint", f.relative_to(base).as_posix(), f, f.relative_to(root).as_posix(),
                      pkg, version, dep5_lookup(stanzas, f"templates/{f.name}")["license"], "photo",
                      "Bill Kendrick (Tux Paint AUTHORS.txt, Templates)")
            for f in sorted((base / "templates").glob("*.jpg"))]


def src_pypi_samples(cache: Path) -> list[Candidate]:
    """scikit-learn's china.jpg / flower.jpg (CC-BY-2.0, credits from the README beside them) and
    matplotlib's grace_hopper.jpg (US Navy photo, public domain)."""
    out = []
    whl, version = fetch_wheel("scikit-learn", cache)
    readme = whl.read("sklearn/datasets/images/README.txt").decode("utf-8")
    for block in re.split(r"\n\s*\n(?=Image:)", readme):
        name = re.search(r"Image:\s*(\S+)", block)[1]
        who = re.search(r"Attribution:\s*(?:Some rights reserved by\s*)?([^\[\n]+)", block)[1]
        url = re.search(r"^\[3\]\s*(\S+)", block, re.MULTILINE)
        lic = re.search(r"licenses/by/(\d\.\d)", block)
        path = f"sklearn/datasets/images/{name}"
        out.append(Candidate("pypi-samples", path, None, path, "scikit-learn", version,
                             f"CC-BY-{lic[1]}" if lic else "", "photo",
                             who.strip() + (f" ({url[1]})" if url else ""), data=whl.read(path)))
    whl, version = fetch_wheel("matplotlib", cache)
    path = "matplotlib/mpl-data/sample_data/grace_hopper.jpg"
    out.append(Candidate("pypi-samples", path, None, path, "matplotlib", version, "public-domain",
                         "photo", "U.S. Navy (portrait of Grace M. Hopper, 1984)",
                         data=whl.read(path)))
    return out
