"""Shape measures: known values on balls, boxes and ellipsoids, spacing, vectorised batches, errors."""
import numpy as np
import pytest

from cnncourse import morphometrics as mm


def ellipsoid(shape=(32, 32, 32), radii=(10, 6, 4), spacing=(1.0, 1.0, 1.0)):
    grids = np.meshgrid(*[(np.arange(s) - (s - 1) / 2) * sp for s, sp in zip(shape, spacing)],
                        indexing="ij")
    return sum((g / r) ** 2 for g, r in zip(grids, radii)) <= 1


def test_ball_measures_match_formulas():
    r = 9
    ball = ellipsoid(radii=(r, r, r))[None]
    m = mm.measure(ball)
    assert set(m) == set(mm.MEASURES)
    assert m["volume"][0] == pytest.approx(4 / 3 * np.pi * r ** 3, rel=0.03)
    assert m["surface_area"][0] == pytest.approx(4 * np.pi * r ** 2, rel=0.06)
    assert 0.93 < m["sphericity"][0] <= 1.0
    assert m["solidity"][0] > 0.97
    assert m["extent"][0] == pytest.approx(np.pi / 6, rel=0.05)  # ball in its bounding cube
    assert m["axis_ratio_middle"][0] == pytest.approx(1, abs=0.02)
    assert m["axis_ratio_minor"][0] == pytest.approx(1, abs=0.02)


def test_box_and_ellipsoid():
    box = np.zeros((1, 20, 20, 20), bool)
    box[0, 2:18, 5:15, 8:12] = True
    m = mm.measure(box)
    assert m["extent"][0] == 1.0 and m["solidity"][0] > 0.97
    axes = mm.principal_axes(box)[0]
    # the ellipsoid with the second moments of L voxels in a row (variance (L**2 - 1) / 12)
    np.testing.assert_allclose(axes, 2 * np.sqrt(5 * (np.array([16, 10, 4]) ** 2 - 1) / 12), rtol=1e-6)
    ell = ellipsoid(radii=(12, 6, 4))[None]
    axes = mm.principal_axes(ell)[0]
    np.testing.assert_allclose(axes, [24, 12, 8], rtol=0.03)   # full axes: twice the radii
    np.testing.assert_allclose(axes / axes[0], [1, 0.5, 1 / 3], atol=0.03)
    assert mm.measure(ell)["sphericity"][0] == pytest.approx(0.866, rel=0.03)  # Thomsen formula


def test_spacing_gives_physical_units():
    # an anisotropic stack: z step 2, the same physical ball sampled on half as many z planes
    iso = ellipsoid((40, 40, 40), (12, 12, 12))[None]
    aniso = ellipsoid((20, 40, 40), (12, 12, 12), spacing=(2.0, 1.0, 1.0))[None]
    a, b = mm.measure(iso), mm.measure(aniso, spacing=(2.0, 1.0, 1.0))
    for key in ("volume", "surface_area", "sphericity", "axis_ratio_minor"):
        assert b[key][0] == pytest.approx(a[key][0], rel=0.06), key
    # ignoring the spacing squashes the ball into a disc
    assert mm.measure(aniso)["axis_ratio_minor"][0] < 0.6


def test_concavity_lowers_solidity():
    ball = ellipsoid(radii=(10, 10, 10))
    cut = ball.copy()
    cut[14:18, :, 14:] = False  # a slot cut into one side
    s = mm.solidity(np.stack([ball, cut]))
    assert s[1] < s[0] - 0.03


def test_batch_matches_single_and_matrix_order():
    masks = np.stack([ellipsoid(radii=r) for r in [(10, 6, 4), (8, 8, 8), (12, 5, 5)]])
    m = mm.measure(masks)
    for i in range(3):
        single = mm.measure(masks[i:i + 1])
        for k in mm.MEASURES:
            assert m[k][i] == pytest.approx(single[k][0])
    mat = mm.measure_matrix(masks, names=("sphericity", "volume"))
    np.testing.assert_allclose(mat, np.stack([m["sphericity"], m["volume"]], axis=1))
    np.testing.assert_allclose(mm.volume(masks), masks.sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(mm.surface_area(masks), m["surface_area"])


def test_sphericity_formula():
    r = 3.0
    assert mm.sphericity(4 / 3 * np.pi * r ** 3, 4 * np.pi * r ** 2) == pytest.approx(1.0)
    np.testing.assert_allclose(mm.sphericity([1.0, 8.0], [6.0, 24.0]), np.pi ** (1 / 3) * 6 ** (2 / 3) / 6)


def test_bad_inputs():
    ok = ellipsoid()[None]
    with pytest.raises(TypeError, match="masks: expected a bool array"):
        mm.measure(ok.astype(np.uint8))
    with pytest.raises(ValueError, match=r"masks: expected shape \(n, D, H, W\)"):
        mm.measure(ok[0])
    with pytest.raises(ValueError, match="spacing: expected 3 positive numbers"):
        mm.measure(ok, spacing=(1, 0, 1))
    with pytest.raises(ValueError, match=r"masks: mask\(s\) \[1\] are empty"):
        mm.measure(np.concatenate([ok, np.zeros_like(ok)]))
    with pytest.raises(ValueError, match="names: unknown measure"):
        mm.measure_matrix(ok, names=("roundness",))
    with pytest.raises(ValueError, match="volume, area"):
        mm.sphericity(1.0, 0.0)
