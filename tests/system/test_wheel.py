"""The wheel carries everything: built here, installed outside the source tree (``pip install
--target``), imported from another folder, it runs ``cnncourse doctor`` and a copied lesson."""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cnncourse import config, data

pytestmark = pytest.mark.skipif(not config.IN_REPOSITORY, reason="builds the wheel from a checkout")

LESSON = "01_perceptron_nand"


def _run(cmd, *, cwd, env=None, timeout=900):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    # built from a clean copy: setuptools would also pack stale files left in the checkout's build/
    source = out / "source"
    shutil.copytree(config.ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "artifacts", ".*cache",
        ".hypothesis", ".ipynb_checkpoints"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
         cwd=out)
    (whl,) = out.glob("cnncourse-*.whl")
    return whl


def _subpackages() -> set[str]:
    root = config.ROOT / "cnncourse"
    return {".".join(p.parent.relative_to(config.ROOT).parts) for p in root.rglob("__init__.py")}


def test_wheel_contents(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in _subpackages():  # pyproject.toml lists the packages by hand
        assert f"{package.replace('.', '/')}/__init__.py" in names, f"{package} missing from pyproject.toml"
    shipped = "cnncourse/_course/"
    for name in [data.MANIFEST, "LICENSES.md", *data.manifest()]:
        assert f"{shipped}data/{name}" in names
    for folder in ("lessons", "solutions"):
        for nb in (config.ROOT / folder).glob("*.ipynb"):
            assert f"{shipped}{folder}/{nb.name}" in names
    assert not any(n.startswith(("tests/", "data/", "lessons/", "solutions/")) for n in names)


def test_installed_wheel_runs_doctor_and_a_copied_lesson(wheel, tmp_path):
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)],
         cwd=tmp_path)
    work = tmp_path / "learner"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CNNCOURSE_DATA",)}
    env.update(PYTHONPATH=str(site), CNNCOURSE_FAST="1", TF_CPP_MIN_LOG_LEVEL="2")
    python = [sys.executable, "-c"]

    where = json.loads(_run(python + ["import json, cnncourse; from cnncourse import config; "
                                      "print(json.dumps([cnncourse.__file__, str(config.ROOT), "
                                      "config.IN_REPOSITORY]))"], cwd=work, env=env))
    assert Path(where[0]).is_relative_to(site), f"imported {where[0]}, not the installed wheel"
    assert Path(where[1]) == site / "cnncourse" / "_course" and where[2] is False

    cli = [sys.executable, "-m", "cnncourse.tools.cli"]
    doctor = _run(cli + ["doctor"], cwd=work, env=env)
    n = len(data.manifest())
    assert f"{n}/{n} verified in {site}" in doctor and "All good" in doctor, doctor

    out = _run(cli + ["lessons", "copy", "course", "--only", LESSON], cwd=work, env=env)
    copied = work / "course" / f"{LESSON}.ipynb"
    assert copied.read_bytes() == (config.LESSONS_DIR / copied.name).read_bytes(), out
    copied.write_text(copied.read_text(encoding="utf-8").replace("NAND", "NAND (my notes)"),
                      encoding="utf-8")
    edited = copied.read_bytes()
    out = _run(cli + ["lessons", "copy", "course", "--only", LESSON], cwd=work, env=env)
    assert "edited and kept" in out and copied.read_bytes() == edited
    _run(cli + ["lessons", "copy", "course", "--only", LESSON, "--force"], cwd=work, env=env)
    assert copied.read_bytes() == (config.LESSONS_DIR / copied.name).read_bytes()

    table = _run(cli + ["run", str(copied)], cwd=work, env=env)
    row = next(line for line in table.splitlines() if line.startswith(str(copied)))
    assert row.endswith("ok") and ("MiB" in row or "GiB" in row), table
