"""The registry of sources: how each is built and used (``SourceSpec``), their order, and the
named source sets of ``--sources``.

The ``src_*`` functions live in sources_v01 (frozen), sources_photos, sources_games and
sources_emoji; this is the one list of them, in the order that decides near-duplicates.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .common import Candidate
from .sources_emoji import src_fluent_emoji, src_noto_emoji, src_openmoji
from .sources_games import (
    src_0ad_portraits,
    src_0ad_terrain,
    src_flare,
    src_naev,
    src_supertuxkart,
    src_wesnoth_campaigns,
)
from .sources_photos import (
    src_gcompris_cartoons,
    src_gcompris_photos,
    src_pypi_samples,
    src_tuxpaint,
    src_wallpapers,
)
from .sources_v01 import src_endless_sky, src_openclipart, src_skimage, src_wesnoth


@dataclass(frozen=True)
class SourceSpec:
    """How one source is built and used."""
    fetch: Callable[[Path], list[Candidate]]
    v01: bool = False         # built exactly as in v0.1 (none of the filters added later)
    cap: int | None = None    # keep at most this many: the first in hash order, a fixed choice
    eval: str | None = None   # role of its test images in --eval: "photos", "manga", "cartoons"


# Order matters: of near-duplicates across sources, the one from the source listed first is kept,
# so the v0.1 sources come first and never lose an image to a later one.
SOURCES = {
    "endless-sky": SourceSpec(src_endless_sky, v01=True, eval="photos"),
    "wesnoth": SourceSpec(src_wesnoth, v01=True, eval="manga"),
    "openclipart": SourceSpec(src_openclipart, v01=True, eval="manga"),
    "skimage": SourceSpec(src_skimage, v01=True, eval="photos"),
    "gcompris-photos": SourceSpec(src_gcompris_photos, eval="photos"),
    "wallpapers": SourceSpec(src_wallpapers, eval="photos"),
    "tuxpaint": SourceSpec(src_tuxpaint, eval="photos"),
    "pypi-samples": SourceSpec(src_pypi_samples, eval="photos"),
    "supertuxkart": SourceSpec(src_supertuxkart, cap=500),
    "0ad-terrain": SourceSpec(src_0ad_terrain, cap=200),
    "wesnoth-campaigns": SourceSpec(src_wesnoth_campaigns, eval="manga"),
    "gcompris-cartoons": SourceSpec(src_gcompris_cartoons, eval="cartoons"),
    "naev": SourceSpec(src_naev, eval="manga"),
    "flare": SourceSpec(src_flare, eval="manga"),
    "0ad-portraits": SourceSpec(src_0ad_portraits, cap=400, eval="manga"),
    # Emoji are capped so that flat pictograms do not dominate the corpus.
    "openmoji": SourceSpec(src_openmoji, cap=400),
    "noto-emoji": SourceSpec(src_noto_emoji, cap=300),
    "fluent-emoji": SourceSpec(src_fluent_emoji, cap=300),
}
V01_SOURCES = [name for name, spec in SOURCES.items() if spec.v01]
SOURCE_SETS = {"v0.1": V01_SOURCES, "full": list(SOURCES), "all": list(SOURCES)}


def parse_sources(text: str) -> list[str]:
    """``--sources``: a set name (v0.1, full/all) or a comma-separated list of source names."""
    return list(SOURCE_SETS[text]) if text in SOURCE_SETS else text.split(",")
