"""constraints.txt (`cnncourse pins`) and the bug-report block (`cnncourse doctor --report`)."""
import importlib.metadata as md
import re

import pytest

from cnncourse import config, data
from cnncourse.tools import environment
from cnncourse.tools.cli import main


def test_pins_are_this_environment(tmp_path, capsys):
    out = tmp_path / "constraints.txt"
    assert main(["pins", "--out", str(out)]) == 0
    pins = environment.read_constraints(out)
    assert pins["numpy"] == md.version("numpy") and pins["tensorflow"] == md.version("tensorflow")
    assert not {"cnncourse", "pip", "setuptools"} & set(pins)
    text = out.read_text()
    marker = environment.platform_marker()
    # NumPy ships compiled wheels: pinned for this platform only; a pure-Python package everywhere
    assert re.search(rf"^numpy=={re.escape(md.version('numpy'))} ; {re.escape(marker)}$", text, re.M)
    assert re.search(rf"^nbformat=={re.escape(md.version('nbformat'))}$", text, re.M)
    assert f"{len(pins)} pins" in capsys.readouterr().out


def test_pins_only_what_the_course_needs(monkeypatch, capsys):
    needed = environment.required({"test"})
    assert {"tensorflow", "numpy", "pytest", "nbval"} <= set(needed) and "nbgrader" not in needed
    assert "jaxlib" in needed  # through jax[cpu]: an extra's requirements are followed too
    with pytest.raises(ValueError, match=r"extras: \['nope'\]"):
        environment.required({"nope"})
    have = environment.installed()
    monkeypatch.setattr(environment, "installed", lambda: {k: v for k, v in have.items() if k != "scipy"})
    assert main(["pins", "--extras", "test", "--out", "-"]) == 2
    assert "not installed, though the course needs them: ['scipy" in capsys.readouterr().err


def test_a_pin_needing_a_later_python_release_gets_a_marker():
    minor = f"{__import__('sys').version_info.major}.{__import__('sys').version_info.minor}"
    assert environment._python_marker(f">={minor}.5") == f'(python_full_version >= "{minor}.5")'
    assert environment._python_marker(">=3.9") is None and environment._python_marker(None) is None


def test_read_constraints_skips_other_platforms_and_names_bad_lines(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("# comment\nNumPy==1.0  # inline comment\nfoo_bar==2 ; sys_platform == 'nonexistent'\n")
    assert environment.read_constraints(f) == {"numpy": "1.0"}
    f.write_text("numpy==1.0\nscipy>=1\n")
    with pytest.raises(ValueError, match=r"c.txt:2: 'scipy>=1' is not an exact pin"):
        environment.read_constraints(f)
    f.write_text("numpy = = 1\n")
    with pytest.raises(ValueError, match=r"c.txt:1: .* is not a pin"):
        environment.read_constraints(f)


def test_mismatches():
    differ, missing = environment.mismatches({"numpy": "2.0.0", "scipy": "1.0", "jax": "0.4"},
                                             {"NumPy": "2.1.0", "scipy": "1.0"})
    assert differ == ["numpy 2.1.0 installed, 2.0.0 pinned"] and missing == ["jax"]


@pytest.fixture(scope="module")
def report_and_pins(tmp_path_factory):
    """One report (it starts TensorFlow) against constraints that pin NumPy to another version."""
    folder = tmp_path_factory.mktemp("pins")
    good = folder / "constraints.txt"
    good.write_text(environment.pins_text())
    bad = folder / "bad.txt"
    bad.write_text(good.read_text().replace(f"numpy=={md.version('numpy')}", "numpy==0.0.1")
                   + "not-a-package-here==1.0\n")
    return environment.report(bad), good


def test_doctor_report_block(report_and_pins):
    (block, n_differ), _ = report_and_pins
    assert block.startswith("```text\n") and block.endswith("\n```")
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in block.splitlines()[2:-1]
                if re.search(r"\S\s{2,}\S", line))
    assert rows["Python"].startswith(__import__("platform").python_version())
    for name in ("tensorflow", "keras", "numpy", "jupyterlab", "nbval", "nbgrader"):
        assert rows[name] == md.version(name), name
    assert rows["Keras backend"] == "tensorflow"
    assert rows["device"].startswith(("CPU", "GPU"))
    assert rows["oneDNN (TF_ENABLE_ONEDNN_OPTS)"]
    n = len(data.manifest())
    assert rows["data (SHA256SUMS)"] == f"{n}/{n} verified in {config.DATA_DIR}"
    assert rows["solutions"] == ("present" if config.HAS_SOLUTIONS else "absent (learner install)")
    assert rows["cnncourse"].startswith(__import__("cnncourse").__version__)
    assert n_differ == 1 and rows["differs"] == f"numpy {md.version('numpy')} installed, 0.0.1 pinned"
    assert "1 differ, 1 not installed" in rows["constraints"]
    assert rows["not installed"] == "not-a-package-here"
    if config.IN_REPOSITORY:
        assert re.match(r"[0-9a-f]{12}", rows["git commit"]) or rows["git commit"] in (
            "no git repository", "git not available")


def test_doctor_report_cli(report_and_pins, capsys, monkeypatch):
    _, good = report_and_pins
    monkeypatch.setattr(environment, "report", lambda c: (f"block for {c}", 0))
    assert main(["doctor", "--report", "--constraints", str(good)]) == 0
    assert capsys.readouterr().out.strip() == f"block for {good}"
    assert main(["doctor", "--constraints", str(good)]) == 2
    assert "--constraints goes with --report" in capsys.readouterr().err


def test_doctor_report_names_a_bad_constraints_file(tmp_path, capsys):
    bad = tmp_path / "c.txt"
    bad.write_text("numpy>=1\n")
    assert main(["doctor", "--report", "--constraints", str(bad)]) == 2
    assert "is not an exact pin" in capsys.readouterr().err


def test_the_checkout_pins_parse():
    if not environment.DEFAULT_CONSTRAINTS.exists():
        pytest.skip("no constraints.txt (an installed wheel)")
    pins = environment.read_constraints(environment.DEFAULT_CONSTRAINTS)
    assert {"tensorflow", "keras", "numpy", "jupyterlab", "nbval", "nbgrader", "jupyterhub"} <= set(pins)
