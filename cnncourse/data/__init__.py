"""Course data: real images shipped in ``data/`` (verified against ``data/SHA256SUMS``) and
deterministic synthetic generators.

``data/`` is the repository's top-level folder; an installed wheel carries the same files as package
data (``cnncourse/_course/data``, found through :data:`cnncourse.config.DATA_DIR`).

Every shipped file is listed in the manifest ``data/SHA256SUMS`` (``sha256sum`` format). Loaders get
paths through :func:`path`, which verifies the checksum, so a missing or corrupted file gives a
clear error naming it and saying how to restore it.
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from cnncourse import config

MANIFEST = "SHA256SUMS"


class DataFileError(FileNotFoundError):
    """A shipped data file is missing, unlisted or does not match its checksum."""


def _sha256(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest(data_dir: Path | None = None) -> dict[str, str]:
    """``{file name: sha256 hex digest}`` read from ``data/SHA256SUMS``."""
    data_dir = Path(data_dir or config.DATA_DIR)
    file = data_dir / MANIFEST
    if not file.exists():
        raise DataFileError(f"data manifest {file} is missing: "
                            f"{config.restore_hint(f'data/{MANIFEST}')} (or set CNNCOURSE_DATA "
                            "to the folder holding the course data)")
    entries = {}
    for line in file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            entries[name.lstrip("*")] = digest
    return entries


@functools.lru_cache(maxsize=None)
def _verified(file: Path, digest: str, mtime: float) -> None:
    if _sha256(file) != digest:
        raise DataFileError(f"data file {file} is corrupted (SHA-256 differs from data/{MANIFEST}): "
                            f"{config.restore_hint(f'data/{file.name}')}")


def path(name: str, data_dir: Path | None = None) -> Path:
    """Path of the shipped data file ``name`` after checking it against the manifest.

    Raises
    ------
    DataFileError
        If ``name`` is not in the manifest, the file is missing, or its checksum differs.
    """
    data_dir = Path(data_dir or config.DATA_DIR)
    entries = manifest(data_dir)
    if name not in entries:
        raise DataFileError(f"{name!r} is not a course data file; known files: {sorted(entries)}")
    file = data_dir / name
    if not file.exists():
        raise DataFileError(f"data file {file} is missing: {config.restore_hint(f'data/{name}')}")
    _verified(file, entries[name], file.stat().st_mtime)
    return file


def verify_all(data_dir: Path | None = None) -> list[tuple[str, str]]:
    """Check every file of the manifest; return ``[(name, problem)]`` (empty when all is well)."""
    try:
        entries = manifest(data_dir)
    except DataFileError as exc:
        return [(MANIFEST, str(exc))]
    problems = []
    for name in entries:
        try:
            path(name, data_dir)
        except DataFileError as exc:
            problems.append((name, str(exc)))
    return problems


# Loaders and generators live in submodules and load on first use, e.g. ``data.load_nuclei()``.
_LAZY = {
    # real images shipped in data/ (cnncourse/data/real.py)
    "load_nuclei": "real", "load_he": "real", "load_ct": "real", "ct_dicom_path": "real",
    "load_retina": "real", "load_nuclei_3d": "real", "nuclei_3d_cubes": "real",
    # synthetic 2D generators (cnncourse/data/synthetic2d.py)
    "make_nuclei_2d": "synthetic2d", "make_mitosis_patches": "synthetic2d",
    # synthetic 3D nuclei and their sparse form (cnncourse/data/synthetic3d.py)
    "make_nuclei_3d": "synthetic3d", "to_sparse": "synthetic3d",
    # pictures of the data (cnncourse/data/gallery.py)
    "contact_sheet": "gallery",
}


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
