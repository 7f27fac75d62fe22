"""cnncourse.data.fields: whole synthetic H&E-like fields for mitosis detection."""
import numpy as np
import pytest

from cnncourse.data.fields import make_mitosis_field


def test_field_shapes_truth_and_determinism():
    field, centres, y = make_mitosis_field(128, seed=3, positive_fraction=0.2)
    assert field.shape == (128, 128, 3) and field.dtype == np.uint8
    assert centres.shape == (len(y), 2) and centres.dtype == np.float64 and y.dtype == np.int64
    assert len(y) == len(np.arange(12, 128, 24)) ** 2          # one nucleus per grid node
    assert y.sum() == round(0.2 * len(y))
    assert np.all((centres >= 0) & (centres < 128))
    again = make_mitosis_field(128, seed=3, positive_fraction=0.2)
    assert np.array_equal(field, again[0]) and np.array_equal(centres, again[1])
    assert not np.array_equal(field, make_mitosis_field(128, seed=4)[0])
    # at least one mitosis whenever the fraction is above 0; none at 0
    assert make_mitosis_field(64, seed=0, positive_fraction=0.01)[2].sum() == 1
    assert make_mitosis_field(64, seed=0, positive_fraction=0.0)[2].sum() == 0


def test_field_nuclei_are_dark_where_the_truth_says():
    from skimage.color import rgb2hed

    field, centres, _ = make_mitosis_field(192, seed=1)
    h = rgb2hed(field)[..., 0]
    r, c = np.round(centres).astype(int).T
    at_nuclei = h[r, c].mean()
    between = h[(r + 12).clip(0, 191), (c + 12).clip(0, 191)].mean()   # halfway between nodes
    assert at_nuclei > between


def test_field_bad_input():
    with pytest.raises(ValueError, match="size"):
        make_mitosis_field(32)
    with pytest.raises(ValueError, match="spacing"):
        make_mitosis_field(128, spacing=40)
    with pytest.raises(ValueError, match="positive_fraction"):
        make_mitosis_field(128, positive_fraction=1.5)
