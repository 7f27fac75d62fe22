"""The sparse benchmark's machinery on tiny sizes (speed itself is never asserted)."""
import numpy as np

from cnncourse import bench
from cnncourse.sparse import bench as sparse_bench


def test_shapes_have_the_requested_occupancy():
    for occ in (0.02, 0.05):
        assert abs(sparse_bench.shell_mask(64, occ).mean() - occ) < 0.2 * occ
        assert abs(sparse_bench.ball_mask(64, occ).mean() - occ) < 0.1 * occ
    shell = sparse_bench.shell_mask(64, 0.02)
    assert not shell[32, 32, 32] and shell.sum() > 0  # hollow


def test_tables_have_every_column(capsys):
    rows = sparse_bench.compare(sizes=(16,), channels=(4,), occupancies=(0.05,), repeat=1)
    assert [r["shape"] for r in rows] == ["shell", "filled"]
    for r in rows:
        assert r["sites"] > 0 and np.isclose(r["FLOP x"], 16**3 / r["sites"])
        assert r["fwd x"] > 0 and r["f+b x"] > 0 and r["table ms"] >= 0
    sweep = sparse_bench.occupancy_sweep(size=16, channels=4, occupancies=(1.0,), repeat=1)
    assert sweep[-1]["sites"] == 16**3
    out = capsys.readouterr().out
    assert "Submanifold conv" in out and "Occupancy sweep" in out and "dense forward wins (CPU time)" in out
    assert bench.BENCHMARKS["sparse"] == "cnncourse.sparse.bench:main"
