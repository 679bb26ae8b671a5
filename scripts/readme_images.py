"""Rebuild the before/after pictures of the README from what `make demo` writes.

Colours examples/ with the default model through the CLI (exactly `irodori colorize examples -o
OUT --overwrite`), then shrinks each chosen input and its output to the README's width and saves
them as docs/images/demo_*.jpg.

    python scripts/readme_images.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
# example stem -> (README input picture, README output picture, width in pixels)
PICTURES = {
    "manga_page": ("demo_manga_page_in", "demo_manga_page", 480),
    "cartoon_tiger": ("demo_tiger_in", "demo_tiger_out", 360),
    "photo_city": ("demo_photo_in", "demo_photo_out", 480),
}


def shrink(src: Path, dst: Path, width: int) -> None:
    img = Image.open(src).convert("RGB")
    img.resize((width, round(img.height * width / img.width)), Image.LANCZOS).save(dst, quality=88)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        subprocess.run([sys.executable, "-m", "irodori.cli", "colorize", str(REPO / "examples"), "-o", str(out),
                        "--overwrite", "-q"], check=True)
        for stem, (picture_in, picture_out, width) in PICTURES.items():
            shrink(REPO / "examples" / f"{stem}.png", REPO / "docs" / "images" / f"{picture_in}.jpg", width)
            shrink(out / f"{stem}.png", REPO / "docs" / "images" / f"{picture_out}.jpg", width)
            print(f"docs/images/{picture_in}.jpg, docs/images/{picture_out}.jpg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
