"""Real images shipped in data/: shapes, dtypes, content sanity, and the checksum error path.

The real data/ files are never modified here: error paths use copies in tmp_path with
config.DATA_DIR monkeypatched to point at them.
"""
import shutil

import numpy as np
import pytest

from cnncourse import config, data
from cnncourse.data import real


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A copy of data/ that tests may damage; config.DATA_DIR points at it."""
    folder = tmp_path / "data"
    shutil.copytree(config.DATA_DIR, folder)
    monkeypatch.setattr(config, "DATA_DIR", folder)
    return folder


def test_nuclei_shapes_and_labels():
    image, labels = data.load_nuclei()
    assert image.shape == labels.shape == (512, 512)
    assert image.dtype == np.uint8 and labels.dtype == np.int32
    ids = np.unique(labels)
    assert ids[0] == 0 and np.array_equal(ids[1:], np.arange(1, 126))  # 125 nuclei, contiguous
    sizes = np.bincount(labels.ravel())[1:]
    assert sizes.min() >= 20


def test_nuclei_mask_agrees_with_image():
    image, labels = data.load_nuclei()
    inside, outside = image[labels > 0].astype(float), image[labels == 0].astype(float)
    assert inside.mean() > 2 * outside.mean()
    # nearly every nucleus is brighter than the median background
    per_nucleus = np.bincount(labels.ravel(), weights=image.ravel())[1:] / np.bincount(labels.ravel())[1:]
    assert np.mean(per_nucleus > np.median(outside)) > 0.95


def test_he_is_rgb_histology():
    image = data.load_he()
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    r, g, b = image.reshape(-1, 3).astype(float).T
    tissue = image.min(axis=2) < 200
    assert 0.6 < tissue.mean() < 0.99  # mostly tissue, a little white background
    assert (r[tissue.ravel()] > g[tissue.ravel()]).mean() > 0.9  # H&E: pink/purple, green lowest
    assert (b[tissue.ravel()] > g[tissue.ravel()]).mean() > 0.9


def test_ct_hounsfield_units_plausible():
    hu, spacing_mm = data.load_ct()
    assert hu.shape == (128, 128) and hu.dtype == np.int16
    assert spacing_mm.shape == (2,) and spacing_mm.dtype == np.float64
    np.testing.assert_allclose(spacing_mm, [0.661468, 0.661468])
    assert -1100 <= hu.min() < -700  # lung / air
    assert 700 < hu.max() <= 3000  # bone
    soft = (hu > -100) & (hu < 100)  # fat edge, water, muscle
    assert soft.mean() > 0.3


def test_dicom_readable_and_equal_to_npz_hu():
    pydicom = pytest.importorskip("pydicom")
    ds = pydicom.dcmread(data.ct_dicom_path())
    assert ds.Modality == "CT" and (ds.Rows, ds.Columns) == (128, 128)
    hu_dicom = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    hu, spacing_mm = data.load_ct()
    np.testing.assert_array_equal(hu, hu_dicom)
    np.testing.assert_allclose(spacing_mm, [float(v) for v in ds.PixelSpacing])


def test_retina_from_scikit_image_bundle():
    image = data.load_retina()
    assert image.shape == (1411, 1411, 3) and image.dtype == np.uint8
    assert image[0, 0].max() < 30 and image[705, 705].mean() > 50  # black corner, lit fundus


def test_nuclei_3d_stack_labels_and_spacing():
    image, labels, spacing_um = data.load_nuclei_3d()
    assert image.shape == labels.shape == (46, 128, 128)
    assert image.dtype == np.uint16 and labels.dtype == np.int32
    np.testing.assert_allclose(spacing_um, [0.29, 0.52, 0.52])
    assert np.array_equal(np.unique(labels), np.arange(21))          # 20 nuclei, contiguous ids
    inside, outside = image[labels > 0].astype(float), image[labels == 0].astype(float)
    assert np.median(inside) > 2 * np.median(outside)               # the labels sit on the nuclei
    assert image.max() > 40_000                                     # 16-bit data, not 8-bit


def test_nuclei_3d_cubes_frame_the_complete_nuclei_like_the_synthetic_ones():
    volumes, masks, ids, voxel_um = data.nuclei_3d_cubes(20)
    assert volumes.shape == masks.shape == (10, 20, 20, 20)
    assert volumes.dtype == np.float32 and masks.dtype == bool and ids.dtype == np.int64
    assert ids.tolist() == [2, 3, 5, 6, 7, 8, 11, 12, 13, 14]        # those touching no face
    assert 0.0 <= volumes.min() and volumes.max() <= 1.0
    # the equivalent-sphere radius is 0.51 of half the grid, the synthetic nuclei's
    radius = (3 * masks.sum(axis=(1, 2, 3)) / (4 * np.pi)) ** (1 / 3)
    np.testing.assert_allclose(radius, 0.51 * 10, rtol=0.05)
    np.testing.assert_allclose([np.median(v[m]) for v, m in zip(volumes, masks)], 0.67, atol=0.05)
    assert np.all(volumes[:, 0, 0, 0] < 0.2)                        # background in the corners
    assert np.all((voxel_um > 0.8) & (voxel_um < 1.6))              # ~1 micrometre voxels at 20^3
    # nothing of the shape depends on the cube size except the sampling
    big = data.nuclei_3d_cubes(32)[1]
    assert big.shape == (10, 32, 32, 32)
    with pytest.raises(ValueError, match="size"):
        data.nuclei_3d_cubes(4)


def test_missing_nuclei_3d_file_names_it(data_copy):
    (data_copy / "nuclei_3d.npz").unlink()
    with pytest.raises(data.DataFileError, match=r"nuclei_3d\.npz is missing.*git checkout -- data/nuclei_3d\.npz"):
        real.load_nuclei_3d()


@pytest.mark.parametrize("load", [real.load_nuclei, real.load_he, real.load_ct, real.load_retina,
                                  real.load_nuclei_3d])
def test_loaders_return_fresh_copies(load):
    first = load()
    first = first if isinstance(first, tuple) else (first,)
    originals = [a.copy() for a in first]
    for a in first:
        a[...] = 0
    again = load()
    again = again if isinstance(again, tuple) else (again,)
    for a, b in zip(again, originals):
        np.testing.assert_array_equal(a, b)


def test_manifest_covers_every_shipped_file_and_all_verify():
    shipped = {f.name for f in config.DATA_DIR.iterdir()
               if f.is_file() and f.suffix not in {"", ".md", ".py"}}
    assert shipped == set(data.manifest())
    assert data.verify_all() == []
    total = sum(f.stat().st_size for f in config.DATA_DIR.iterdir() if f.is_file())
    assert total < 3_000_000


def test_corrupted_file_names_it_and_says_how_to_restore(data_copy):
    file = data_copy / "nuclei.npz"
    raw = bytearray(file.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    file.write_bytes(bytes(raw))
    with pytest.raises(data.DataFileError, match=r"nuclei\.npz.*corrupted.*git checkout -- data/nuclei\.npz"):
        real.load_nuclei()


def test_missing_file_names_it_and_says_how_to_restore(data_copy):
    (data_copy / "nuclei.npz").unlink()
    with pytest.raises(data.DataFileError, match=r"nuclei\.npz is missing.*git checkout -- data/nuclei\.npz"):
        real.load_nuclei()


def test_corrupted_dicom_path_errors(data_copy):
    with open(data_copy / "CT_small.dcm", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(data.DataFileError, match=r"CT_small\.dcm.*git checkout -- data/CT_small\.dcm"):
        real.ct_dicom_path()


def test_unlisted_file_is_refused(data_copy):
    lines = (data_copy / data.MANIFEST).read_text().splitlines()
    (data_copy / data.MANIFEST).write_text("\n".join(l for l in lines if not l.endswith("he.npz")) + "\n")
    with pytest.raises(data.DataFileError, match="'he.npz' is not a course data file"):
        real.load_he()


def test_npz_without_expected_arrays_errors(data_copy, monkeypatch):
    np.savez_compressed(data_copy / "ct.npz", wrong=np.zeros(3))
    monkeypatch.setattr(data, "_verified", lambda *args: None)  # pretend the checksum matched
    with pytest.raises(data.DataFileError, match=r"ct\.npz lacks arrays \['hu', 'spacing_mm'\]"):
        real.load_ct()


def test_retina_checksum_and_missing_errors(monkeypatch, tmp_path):
    monkeypatch.setattr(real, "_RETINA_SHA256", "0" * 64)
    with pytest.raises(data.DataFileError, match=r"retina\.jpg is corrupted.*reinstall"):
        real.load_retina()
    import skimage

    monkeypatch.setattr(skimage, "__file__", str(tmp_path / "skimage" / "__init__.py"))
    with pytest.raises(data.DataFileError, match=r"retina\.jpg is missing.*scikit-image"):
        real.load_retina()


def test_bench_tables_have_rows_and_skip_missing_modules(monkeypatch):
    from cnncourse.tools.bench import data as bench

    rows = bench.loader_rows(repeat=1)
    assert [r["loader"] for r in rows] == ["load_nuclei", "load_he", "load_ct", "ct_dicom_path",
                                            "load_retina"]
    monkeypatch.setitem(bench._MODULES, "make_nuclei_3d", "no_such_module")
    rows, notes = bench.generator_rows({"make_nuclei_3d": [("fast", (2, 16), {})]})
    assert rows == [] and "make_nuclei_3d: skipped" in notes[0]


def test_bench_generator_row_for_an_existing_generator():
    pytest.importorskip("cnncourse.data.synthetic2d")
    from cnncourse.tools.bench import data as bench

    rows, notes = bench.generator_rows({"make_nuclei_2d": [("fast", (1, 32), {})]})
    assert notes == [] and rows[0]["shape"] == "1x32x32" and rows[0]["seconds"] >= 0


def test_installed_package_says_reinstall_not_git(data_copy, monkeypatch):
    """From an installed wheel there is no git checkout to restore from."""
    from cnncourse import config

    monkeypatch.setattr(config, "IN_REPOSITORY", False)
    (data_copy / "nuclei.npz").unlink()
    with pytest.raises(data.DataFileError, match=r"nuclei\.npz is missing: reinstall the course: `pip install"):
        data.path("nuclei.npz")
