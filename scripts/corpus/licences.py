"""Reading the licence of each file from what its package states.

Debian machine-readable copyright files (DEP-5), with the conservative stanza choice that
mis-ordered files need (``dep5_lookup``); free-text licence names normalised to SPDX-like ids;
and GCompris's per-folder READMEs, its upstream per-file record. Kept apart from the sources
because several of them share it and because the licence rules are what a reviewer checks.
"""
from __future__ import annotations

import fnmatch
import re
from pathlib import Path


def parse_dep5(text: str) -> list[dict]:
    """Parse DEP-5 text into the stanzas that have ``Files:`` (in order) as dicts with "files"
    (glob patterns, possibly on continuation lines), "license" (first word), "copyright"."""
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if "files" in fields:
            lic = fields.get("license", "").split()
            stanzas.append({"files": fields["files"].split(), "license": lic[0] if lic else "",
                            "copyright": " ".join(fields.get("copyright", "").split())})
    return stanzas


def deb_copyright(root: Path, pkg: str) -> list[dict]:
    """The DEP-5 stanzas of an unpacked Debian package's copyright file."""
    return parse_dep5((root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8"))


def dep5_lookup(stanzas: list[dict], rel: str) -> dict | None:
    """Return the stanza that governs ``rel``.

    Per DEP-5 the LAST matching stanza wins, but packages are not always written that way:
    Endless Sky lists ``images/land/*-sfiera*`` (CC-BY-SA-4.0, a named author) before a broad
    public-domain list such as ``images/land/fields1*`` that also matches ``fields10-sfiera``.
    So, conservatively: among the stanzas whose matching pattern names the file's own folder
    (not catch-alls like ``*`` or ``images/*``), one with a licence other than public domain
    (attribution or share-alike) wins; otherwise the last matching stanza wins.
    """
    folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""

    def literal_prefix(pattern: str) -> int:
        return len(re.split(r"[*?\[]", pattern, maxsplit=1)[0])

    matching, local = [], []
    for st in stanzas:
        hits = [pat for pat in st["files"] if fnmatch.fnmatchcase(rel, pat)]
        if hits:
            matching.append(st)
            if max(literal_prefix(p) for p in hits) >= len(folder):
                local.append(st)
    restrictive = [st for st in local if st["license"].lower() != "public-domain"]
    return (restrictive or matching or [None])[-1]


def dep5_specific(stanzas: list[dict], rel: str) -> dict | None:
    """``dep5_lookup``, but None when only catch-alls (``*``, ``images/*``) cover ``rel``: for
    packages whose catch-all licence is the maintainer's assumption, not a statement per file."""
    st = dep5_lookup(stanzas, rel)
    folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
    if st and any(fnmatch.fnmatchcase(rel, p) and len(re.split(r"[*?\[]", p, maxsplit=1)[0])
                  >= len(folder) for p in st["files"]):
        return st
    return None


def norm_license(text: str) -> str:
    """Free-text licence names ("CC-BY-SA 4.0", "Public Domain", "GPLv3 or later", "PD", "CC0")
    as SPDX-like identifiers; anything else unchanged."""
    s = text.strip().rstrip(".")
    low = s.lower()
    if low in ("pd", "public-domain") or low.startswith("public domain"):
        return "public-domain"
    if low == "cc0":
        return "CC0-1.0"
    m = re.fullmatch(r"(?i)(cc[- ]?by(?:[- ]sa)?|cc0)[- ]?v?(\d\.\d)", s)
    if m:
        return re.sub(r"(?i)^cc[- ]?by", "CC-BY", m[1]).upper().replace(" ", "-") + "-" + m[2]
    m = re.fullmatch(r"(?i)gpl[- ]?v?(\d)(\+| or later)?", s)
    if m:
        return f"GPL-{m[1]}" + ("+" if m[2] else "")
    return s


IMAGE_NAME = re.compile(r"[\w.+\-'/]+\.(?:webp|png|jpe?g|gif|svgz?)", re.IGNORECASE)


def parse_gcompris_readme(text: str) -> dict[str, dict]:
    """GCompris's per-folder README (blocks of ``Copyright:``, ``License:``, ``Source:`` and
    ``Files:`` with the names on the same or the following lines) as {file name: {"license",
    "copyright", "source"}}; names may include a subfolder (``wonders/petra.webp``)."""
    out = {}
    for block in re.split(r"\n\s*\n", text):
        fields, files, key = {}, [], None
        for line in block.splitlines():
            k, sep, v = line.partition(":")
            if sep and k.strip().lower() in ("copyright", "license", "licence", "source", "files",
                                             "comment", "comments", "author"):
                key = k.strip().lower()
                fields[key] = v.strip()
                if key == "files":
                    files += [w for w in v.split() if IMAGE_NAME.fullmatch(w)]
            elif key == "files" or IMAGE_NAME.fullmatch(line.strip()):
                files += [w for w in line.split() if IMAGE_NAME.fullmatch(w)]
        lic = fields.get("license") or fields.get("licence")
        if lic:
            for f in files:
                out[f] = {"license": norm_license(lic), "copyright": fields.get("copyright", ""),
                          "source": fields.get("source", ""),
                          "comment": fields.get("comment") or fields.get("comments", "")}
    return out
