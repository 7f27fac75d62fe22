"""The sparse benchmark's machinery on tiny sizes (speed itself is never asserted)."""
import numpy as np

from cnncourse.tools import bench
from cnncourse.tools.bench import sparse as sparse_bench
from cnncourse.tools.bench.sparse import versus_spconv as sparse_spconv


def test_shapes_have_the_requested_occupancy():
    for occ in (0.02, 0.05):
        assert abs(sparse_bench.shell_mask(64, occ).mean() - occ) < 0.2 * occ
        assert abs(sparse_bench.ball_mask(64, occ).mean() - occ) < 0.1 * occ
    shell = sparse_bench.shell_mask(64, 0.02)
    assert not shell[32, 32, 32] and shell.sum() > 0  # hollow


def test_rounds_alternate_after_a_warm_up_and_ratios_are_per_round(monkeypatch):
    calls = []
    fns = {"sparse": (lambda: calls.append("s"), 2), "dense": (lambda: calls.append("d"), 1)}
    times = iter(range(1000))
    monkeypatch.setattr(sparse_bench.time, "perf_counter", lambda: float(next(times)))
    out = sparse_bench._rounds(fns, rounds=3, calls=1)
    # two warm-up calls each, then per round: the sparse calls, then the dense one
    assert "".join(calls) == "ssdd" + "ssd" * 3
    assert [len(out[k][0]) for k in fns] == [3, 3]
    assert sparse_bench._ratios([4.0, 9.0], [2.0, 3.0]) == [2.0, 3.0]
    assert sparse_bench._spread([2.0, 30.5, 7.0]) == "2-30.5"


def test_tables_have_every_column(capsys):
    rows = sparse_bench.compare(sizes=(16,), channels=(4,), occupancies=(0.05,), rounds=2,
                                repeat=1)
    assert [r["shape"] for r in rows] == ["shell", "filled"]
    for r in rows:
        assert r["sites"] > 0 and np.isclose(r["FLOP x"], 16**3 / r["sites"])
        assert r["fwd x"] > 0 and r["f+b x"] > 0 and r["table ms"] >= 0 and r["rounds"] == 2
        low, high = (float(v) for v in r["fwd x range"].split("-"))
        assert low <= r["fwd x"] <= high
    sweep = sparse_bench.occupancy_sweep(size=16, channels=4, occupancies=(1.0,), repeat=1)
    assert sweep[-1]["sites"] == 16**3
    out = capsys.readouterr().out
    assert "Submanifold conv" in out and "Occupancy sweep" in out and "(CPU time)" in out
    assert "x range" in out and "_dense" not in out  # private cells are not printed
    assert bench.BENCHMARKS["sparse"] == "cnncourse.tools.bench.sparse"
    assert "intra-op threads" in sparse_bench._setup()


def test_goal_column_and_the_further_tables(capsys):
    row = {"fwd x": 31.0, "f+b x": 20.0, "fwd x cpu": 40.0, "f+b x cpu": 26.0, "table ms": 2.0}
    cell = sparse_bench._goal(128, "shell", 0.02, 32, row)
    assert cell == {"goal": "fwd>=30x,f+b>=25x,table<=3ms", "met": "no/yes"}
    assert sparse_bench._goal(64, "shell", 0.02, 16, row) == {"goal": "-", "met": "-"}
    # the goals belong to the cases only: a 2% shell and a 5% filled ball
    assert sparse_bench._goal(128, "shell", 0.05, 32, row) == {"goal": "-", "met": "-"}
    assert sparse_bench._goal(128, "filled", 0.05, 32, row)["goal"] == "fwd>=10x"
    assert sparse_bench._goal(128, "filled", 0.02, 32, row)["goal"] == "-"
    algos = sparse_bench.algorithms(16, 4, 0.05, rounds=1, repeat=1)
    assert {r["algorithm"] for r in algos} >= {"blocked", "hybrid", "gather"}
    scaling = sparse_bench.table_scaling(64, 2, 16)
    assert scaling["sites"] > 0 and scaling["peak MB"] > 0 and scaling["s"] > 0
    out = capsys.readouterr().out
    assert "fastest forward + backward" in out and "Table build" in out
    # train_steps (XLA compiles for minutes on a loaded machine) runs in the benchmark only


def test_spconv_comparison_skips_with_a_reason_where_missing(monkeypatch, capsys):
    monkeypatch.setattr(sparse_spconv, "available", lambda: "spconv is not usable here (...)")
    assert sparse_spconv.compare(fast=True) == []
    assert "spconv side by side: skipped: spconv is not usable here" in capsys.readouterr().out
