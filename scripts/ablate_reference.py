#!/usr/bin/env python3
"""The reference-matching ablation of docs/REFERENCE.md, on the VAL reference sets (never test).

Each variant changes constants of :mod:`irodori.reference` (or the paint view) and scores every
val set with ``scripts/evaluate_reference.py``'s scorer: mean PSNR gain with the matching and
with the unrelated reference. Prints a Markdown table; ``--json`` keeps the figures::

    python scripts/build_reference_evalsets.py --split val   # once
    python scripts/ablate_reference.py --limit 20 --json docs/reference-ablation.json --write docs/REFERENCE.md

``--only NAME`` runs some variants; with ``--merge FILE.json`` the others are taken from an
earlier run.
"""
from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

import irodori.align as A  # noqa: E402
import irodori.colorizer as C  # noqa: E402
import irodori.hints as H  # noqa: E402
import irodori.reference as R  # noqa: E402
from docsplice import splice  # noqa: E402
from evaluate_reference import score_set, set_folders  # noqa: E402

BEGIN, END = "<!-- REFERENCE-ABLATION:BEGIN (scripts/ablate_reference.py) -->", "<!-- REFERENCE-ABLATION:END -->"

# name -> (what it changes, constants of irodori.reference)
VARIANTS = {
    "shipped": ("the shipped settings (160 hints)", {}),
    "96 hints": ("96 reference hints a page (the cap before line art's hints filled their shapes)",
                 {"MAX_REFERENCE_HINTS": 96}),
    "48 hints": ("48 reference hints a page; the base of the rows below", {"MAX_REFERENCE_HINTS": 48}),
    "strict similarity": ("similarity ramp 0.7-0.9 (the first cut)",
                          {"MAX_REFERENCE_HINTS": 48, "SIMILARITY_FLOOR": 0.7, "SIMILARITY_FULL": 0.9}),
    "no support check": ("a confident cell needs no confident neighbours",
                         {"MAX_REFERENCE_HINTS": 48, "MIN_SUPPORT": 0.0}),
    "no distinctness check": ("the best match need not beat the 16th", {"MAX_REFERENCE_HINTS": 48, "MARGIN_FULL": 1e-6}),
    "no lightness penalty": ("similarity of features alone", {"MAX_REFERENCE_HINTS": 48, "TONE_WEIGHT": 0.0}),
    "paint: grey view": ("a page to paint matched in the grey view, like a tinted one",
                         {"MAX_REFERENCE_HINTS": 48, "_paint_view": "grey"}),
    "paint: ink view alone": ("ink view without the grey-view relatedness check",
                              {"MAX_REFERENCE_HINTS": 48, "MIN_RELATED": 0.0}),
    "feature side 512": ("page and references seen at 512 px (not 384): a finer grid of cells, for small parts",
                         {"FEATURE_SIDE": 512}),
    "feature side 640": ("... at 640 px", {"FEATURE_SIDE": 640}),
    "no growth": ("confident matches not grown into their neighbours", {"GROW_STEPS": 0}),
    "lone flat matches kept": ("a blank page cell keeps a coloured match with no matched detail near it",
                               {"BLANK_COMPANY": 0}),
    "mixed reference cells kept": ("a reference cell of mixed colour (ab std over 22: a shape's edge) gives hints "
                                   "on pages with a blank sheet too", {"MAX_CELL_MIX": 0.0}),
    "flat company 4": ("a blank page cell's coloured match needs matched detail within 4 cells, not 2",
                       {"BLANK_COMPANY": 4}),
    "growth from any match": ("every confident match seeds growth: blank cells too, and shifts no other seed shares",
                              {"SEED_DETAIL": 0.0, "GROW_QUORUM": 0}),
    "growth 2 rings": ("confident matches grown by 2 rings, not 8", {"GROW_STEPS": 2}),
    "growth quorum 3": ("a seed needs 3 seeds sharing its shift, not 6", {"GROW_QUORUM": 3}),
    "scales 1.5, 1, 0.5": ("references also analysed enlarged 1.5x, for a character drawn larger on the page", {"REFERENCE_SCALES": (1.5, 1.0, 0.5)}),
    "scales 1.4, 0.7": ("references analysed at 1.4x and 0.7x of the page's view, not 1x and 0.5x", {"REFERENCE_SCALES": (1.4, 0.7)}),
    "growth into backdrop rims": ("a match may grow into the cells beside a reference's backdrop", {"GROW_RIM": False}),
    "ink walls for references": ("a page's reference hints spread over walls of its ink, as a user's hints do, "
                                 "not over its grey alone", {"colorizer.REFERENCE_WALLS": True}),
    "related blur 2": ("paint: the page's grey view blurred (Gaussian sigma 2 px of the 384-px view) for the "
                       "relatedness test, its screentone read as grey", {"RELATED_BLUR": 2.0}),
    "no copy of the same drawing": ("where a page is a reference's very drawing, its colours not copied "
                                    "(irodori.align): its matches give hints alone", {"ALIGN": False}),
    "copy for tinted pages only": ("a page to paint takes no copy of the same drawing, only hints",
                                   {"ALIGN_PAINT": False}),
    "copy not refined": ("the same drawing's transform as fitted to the cells' centres, not refined "
                         "(Gauss-Newton on the lightness)", {"align.REFINE_SHIFT": 0}),
    "copy without detail check": ("paint: a transform need not explain the page's detail around its matches",
                                  {"align.ALIGN_DETAIL": 0.0}),
    "copy without edge check": ("paint: a copied region's edges need not be the reference's (gradients "
                                "correlating 0.6: another drawing in a like pose passes)", {"align.ALIGN_EDGES": 0.0}),
    "copy without hints": ("where the same drawing is copied, its matches give no hints",
                           {"ALIGN_HINTS": False}),
    "no hint groups": ("each reference hint spread with its own distance map (before grouping hints that ask "
                       "corrections within 4 Lab units)", {"hints.GROUP_TOLERANCE": 0.0}),
}


@contextmanager
def variant(changes: dict):
    """Set the constants (``hints.NAME``, ``colorizer.NAME``, ``align.NAME``: a constant of
    irodori.hints, irodori.colorizer or irodori.align; and, for "_paint_view": "grey", match
    painted pages in the grey view)."""
    owners = {"hints.": H, "colorizer.": C, "align.": A}
    modules = {k: next(((m, k[len(p):]) for p, m in owners.items() if k.startswith(p)), (R, k))
               for k in changes if not k.startswith("_")}
    saved = {k: getattr(*modules[k]) for k in modules}
    guide = R.ReferenceMatcher.guide
    try:
        for key, value in changes.items():
            if key in modules:
                setattr(*modules[key], value)
        if changes.get("_paint_view") == "grey":
            R.ReferenceMatcher.guide = (lambda self, lightness, refs, ink=False, sheet=None, size=None:
                                        guide(self, lightness, refs, size=size))
        yield
    finally:
        for key, value in saved.items():
            setattr(*modules[key], value)
        R.ReferenceMatcher.guide = guide


def table(results: dict, names: list[str]) -> str:
    """Variant -> set -> (matching, unrelated) gains -> a Markdown table."""
    lines = ["| variant | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for name, r in results.items():
        cells = [f"{r['sets'][n]['matching']:+.2f} / {r['sets'][n]['unrelated']:+.2f}" for n in names]
        lines.append(f"| {name}: {r['what']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", type=Path, default=ROOT / "data" / "eval-reference-val")
    ap.add_argument("--limit", type=int, default=20, help="targets per set")
    ap.add_argument("--only", action="append", help="variants to run (default: all)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--merge", type=Path, help="an earlier --json: variants not run now are taken from it")
    ap.add_argument("--write", type=Path, help="Markdown file with the REFERENCE-ABLATION markers")
    args = ap.parse_args(argv)
    from irodori.colorizer import load_colorizer

    colorizer = load_colorizer("auto", threads=1)
    folders = set_folders(args.sets, None)
    if not folders:
        raise SystemExit(f"no sets under {args.sets}: python scripts/build_reference_evalsets.py --split val")
    results: dict = json.loads(args.merge.read_text())["variants"] if args.merge else {}
    for name, (what, changes) in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        with variant(changes):
            results[name] = {"what": what, "sets": {}}
            for folder in folders:
                summary, _ = score_set(colorizer, folder, limit=args.limit)
                results[name]["sets"][folder.name] = {c: summary[c]["delta_db"] for c in ("matching", "unrelated")}
        print(f"{name}: {results[name]['sets']}", file=sys.stderr, flush=True)
    results = {name: results[name] for name in VARIANTS if name in results}
    text = table(results, [f.name for f in folders])
    print(text)
    if args.write:
        splice(args.write, BEGIN, END, text)
    if args.json:
        args.json.write_text(json.dumps({"split": "val", "limit": args.limit, "variants": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
