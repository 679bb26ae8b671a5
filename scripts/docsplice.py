"""Generated blocks in the docs: the scripts that measure something write their tables between
a pair of HTML-comment markers, so the prose around them stays hand-written."""

from __future__ import annotations

import re
from pathlib import Path


def splice(path: str | Path, begin: str, end: str, body: str) -> None:
    """Replace what lies between the ``begin`` and ``end`` markers of a file with ``body``.
    A file without the markers is left alone (a missing file is an error)."""
    path = Path(path)
    text = path.read_text()
    pattern = re.escape(begin) + ".*?" + re.escape(end)
    path.write_text(re.sub(pattern, lambda _: f"{begin}\n{body}\n{end}", text, flags=re.S))
