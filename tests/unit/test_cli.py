"""The `cnncourse` command: doctor, run, and data verification."""
import hashlib

import nbformat
import pytest

from cnncourse import config, data
from cnncourse.tools.cli import main


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "img.npz").write_bytes(b"real bytes")
    digest = hashlib.sha256(b"real bytes").hexdigest()
    (folder / "SHA256SUMS").write_text(f"{digest}  img.npz\n")
    monkeypatch.setattr(config, "DATA_DIR", folder)
    return folder


def test_data_path_verifies_checksum(data_dir):
    assert data.path("img.npz") == data_dir / "img.npz"
    (data_dir / "img.npz").write_bytes(b"tampered!!")
    with pytest.raises(data.DataFileError, match=r"img.npz is corrupted.*git checkout -- data/img.npz"):
        data.path("img.npz")


def test_data_path_missing_and_unknown(data_dir):
    (data_dir / "img.npz").unlink()
    with pytest.raises(data.DataFileError, match="img.npz is missing"):
        data.path("img.npz")
    with pytest.raises(data.DataFileError, match="'nope.npz' is not a course data file"):
        data.path("nope.npz")


def test_doctor_ok_then_fails_on_corrupt_data(data_dir, capsys):
    assert main(["doctor"]) == 0
    assert "All good" in capsys.readouterr().out
    (data_dir / "img.npz").write_bytes(b"corrupted")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "BAD  data files" in out and "img.npz is corrupted" in out


def test_doctor_on_the_shipped_data(capsys):
    assert main(["doctor"]) == 0, capsys.readouterr().out


def test_run_reports_failing_cell(tmp_path, capsys):
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), good)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                                   nbformat.v4.new_code_cell("1 / 0")]), bad)
    assert main(["run", str(good)]) == 0
    assert main(["run", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "FAILED: code cell 2" in out and "ZeroDivisionError" in out
    assert "total" in out and "peak memory" in out
    row = next(line for line in out.splitlines() if line.startswith(str(good)))
    assert " MiB " in row or " GiB " in row, row  # the kernel's peak resident memory


def test_run_keep_writes_the_executed_copies(tmp_path, monkeypatch, capsys):
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")]), good)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")]), bad)
    monkeypatch.setenv("CNNCOURSE_FAST", "1")
    assert main(["run", str(good), str(bad), "--keep", str(tmp_path / "kept")]) == 1
    kept = nbformat.read(tmp_path / "kept" / "good.ipynb", as_version=4)
    assert kept.cells[0].outputs[0]["text"] == "42\n"
    assert kept.metadata["cnncourse_run"]["mode"] == "fast"
    assert kept.metadata["cnncourse_run"]["error"] is None
    failed = nbformat.read(tmp_path / "kept" / "bad.ipynb", as_version=4)   # kept up to its error
    assert failed.cells[0].outputs[0]["ename"] == "ZeroDivisionError"
    assert "code cell 1" in failed.metadata["cnncourse_run"]["error"]
    assert nbformat.read(good, as_version=4).cells[0].outputs == []     # the source stays as it was


def test_run_writes_its_table_as_json_and_markdown(tmp_path, capsys):
    import json

    from cnncourse.tools import runner

    busy = tmp_path / "busy.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.2: pass")]), busy)
    out = tmp_path / "table.json"
    assert main(["run", str(busy), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    (row,) = data["notebooks"]
    assert row["notebook"] == "busy.ipynb" and row["error"] is None
    assert row["cpu_seconds"] >= 1.2 and row["seconds"] >= 1.2   # the kernel's own CPU time
    assert 10 * 2**20 < row["peak_bytes"] < 64 * 2**30
    (cell,) = row["cells"]                                        # the one cell over a second
    assert cell["cell"] == 0 and cell["cpu_seconds"] >= 1.2 and cell["source"] == "import time"
    assert cell["peak_bytes"] == row["peak_bytes"]
    assert data["total"] == {"seconds": row["seconds"], "cpu_seconds": row["cpu_seconds"],
                             "peak_bytes": row["peak_bytes"]}
    assert data["mode"] in ("fast", "full") and data["machine"]["cpus"] >= 1
    capsys.readouterr()
    assert main(["run", "--markdown", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| notebook") and lines[2].startswith("| busy.ipynb |")
    assert lines[-1].startswith("| **total** |") and len(lines) == 4
    with pytest.raises(ValueError, match="data: expected the table"):
        runner.markdown({"rows": []})
    (tmp_path / "bad.json").write_text("{}")
    assert main(["run", "--markdown", str(tmp_path / "bad.json")]) == 2
    assert "expected the table" in capsys.readouterr().err


def test_peak_rss_of_this_process():
    import os

    from cnncourse.tools import runner

    assert 10 * 2**20 < runner.peak_rss(os.getpid()) < 64 * 2**30
    assert runner.peak_rss(2**22 + 12345) is None  # no such process


def test_lessons_build_refuses_outside_a_checkout(monkeypatch, capsys):
    monkeypatch.setattr(config, "IN_REPOSITORY", False)
    assert main(["lessons", "build"]) == 2
    assert "run it in a clone" in capsys.readouterr().err


def test_bench_unknown_name():
    with pytest.raises(SystemExit, match="unknown benchmark 'nope'"):
        main(["bench", "nope"])


def test_bench_topics_live_in_one_package_with_one_signature():
    import importlib
    import inspect
    import pkgutil

    from cnncourse.tools import bench

    found = {m.name for m in pkgutil.iter_modules(bench.__path__)}
    assert found == set(bench.BENCHMARKS)
    for topic, module in bench.BENCHMARKS.items():
        params = inspect.signature(importlib.import_module(module).run).parameters
        assert [(n, p.kind, p.default) for n, p in params.items()] == [
            ("fast", inspect.Parameter.KEYWORD_ONLY, None),
            ("verbose", inspect.Parameter.KEYWORD_ONLY, True)], topic


def test_bench_conv_prints_its_table(monkeypatch, capsys):
    monkeypatch.setattr(config, "FAST", True)
    assert main(["bench", "conv"]) == 0
    out = capsys.readouterr().out
    assert "conv2d: NumPy loops vs im2col vs TensorFlow" in out and "(1,64,64,3)" in out


def test_grading_setup_writes_an_nbgrader_course(tmp_path, capsys):
    course = tmp_path / "course"
    assert main(["grading", "setup", str(course), "--only", "01_perceptron_nand"]) == 0
    assert "from cnncourse.tools.grading import configure" in (course / "nbgrader_config.py").read_text()
    source = course / "source" / "01_perceptron_nand" / "01_perceptron_nand.ipynb"
    assert source.read_bytes() == (config.SOLUTIONS_DIR / source.name).read_bytes()
    assert main(["grading", "setup", str(course), "--only", "99_nope"]) == 2
    assert "no solution notebook" in capsys.readouterr().err


def test_bench_onednn_refuses_a_contrary_setting(monkeypatch, capsys):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert main(["bench", "conv", "--onednn"]) == 2
    assert "TF_ENABLE_ONEDNN_OPTS" in capsys.readouterr().err


def test_run_says_where_a_slow_run_spent_its_time(tmp_path, monkeypatch, capsys):
    from cnncourse.tools import runner

    monkeypatch.setattr(runner, "SLOW_SECONDS", 1)
    slow = tmp_path / "slow.ipynb"
    nbformat.write(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(1.5)")]), slow)
    assert main(["run", str(slow)]) == 0
    err = capsys.readouterr().err
    assert "slow: " in err and "in cell 0" in err and "kernel ran 1." in err, err


def test_run_without_solutions_runs_the_lessons(tmp_path, monkeypatch, capsys):
    """A learner install (the wheel without solutions/): `cnncourse run` runs the lessons."""
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('lesson ran')")]),
                   lessons / "00_only.ipynb")
    monkeypatch.setattr(config, "HAS_SOLUTIONS", False)
    monkeypatch.setattr(config, "SOLUTIONS_DIR", tmp_path / "solutions")
    monkeypatch.setattr(config, "LESSONS_DIR", lessons)
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    assert "no solutions/ in this install" in out and "00_only.ipynb" in out
    assert main(["doctor"]) == 0
    assert "solutions                    absent (a learner install" in capsys.readouterr().out
