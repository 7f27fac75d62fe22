"""One random-rotation sampler (cnncourse.rotations) behind augment, the synthetic nuclei and the
sparse network's augmentation: same seed, same matrices."""
import numpy as np

from cnncourse import augment, rotations


def test_the_samplers_are_one():
    from cnncourse.sparse import net

    ours = rotations.random_rotation_matrices(6, seed=np.random.default_rng(3))
    assert np.array_equal(augment.random_rotation_matrices(6, seed=np.random.default_rng(3)), ours)
    assert np.array_equal(net.random_rotations(6, np.random.default_rng(3)), ours)
    assert np.allclose(ours @ ours.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(ours), 1.0)


def test_synthetic_nuclei_draw_their_poses_from_it(monkeypatch):
    from cnncourse.data import synthetic3d

    calls = []

    def spy(n, *, seed=None):
        calls.append(n)
        return rotations.random_rotation_matrices(n, seed=seed)

    monkeypatch.setattr(synthetic3d, "random_rotation_matrices", spy)
    synthetic3d.make_nuclei_3d(2, 16, seed=0)
    assert calls == [2]
