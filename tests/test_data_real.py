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


def test_loaders_return_fresh_copies():
    image, labels = data.load_nuclei()
    image[:] = 0
    labels[:] = 0
    image2, labels2 = data.load_nuclei()
    assert image2.max() > 0 and labels2.max() == 125


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
