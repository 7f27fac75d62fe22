"""The tested environment: ``constraints.txt`` (``cnncourse pins``) and ``cnncourse doctor --report``.

``constraints.txt`` at the repository's root holds the exact version of every package that
``make install`` puts in the environment ``make test`` passed with: what ``pip freeze`` lists, less
the course itself, pip's own tools and whatever else that environment holds (only the requirements
of the course with the extras ``make install`` names, and theirs, recursively). ``make install`` installs with ``pip install -c constraints.txt``, so a room set
up next month gets the versions that were tested. A package installed from a platform-specific
wheel (compiled code: TensorFlow, NumPy, ...) carries an environment marker for the Python version,
OS and machine it was tested on, and one that needs a later release of this Python (soupsieve
needs 3.11.5, Debian has 3.11.2) a ``python_full_version`` marker: elsewhere pip chooses its
version freely instead of failing.
"""
from __future__ import annotations

import importlib.metadata as md
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from cnncourse import config

#: pip's own tools and the course, left out of the pins (as ``pip freeze`` leaves out pip's).
UNPINNED = {"pip", "setuptools", "wheel", "distribute", "cnncourse"}
#: Packages the bug-report block always lists.
KEY_PACKAGES = ("tensorflow", "keras", "numpy", "scipy", "jax", "matplotlib", "scikit-image",
                "scikit-learn", "jupyterlab", "ipykernel", "ipywidgets", "nbval", "nbgrader",
                "jupyterhub")
DEFAULT_CONSTRAINTS = config.ROOT / "constraints.txt"


def canonical(name: str) -> str:
    """A distribution name in its canonical form (PEP 503: lowercase, runs of ``-_.`` as ``-``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, md.Distribution]:
    """The installed distributions by canonical name, less :data:`UNPINNED` (first on the path wins)."""
    found: dict[str, md.Distribution] = {}
    for dist in md.distributions():
        name = canonical(dist.metadata["Name"] or "")
        if name and name not in UNPINNED and name not in found:
            found[name] = dist
    return found


def _project_requirements(extras: set[str]) -> list:
    """The course's requirements with ``extras``: from the checkout's pyproject.toml, else the
    installed cnncourse's metadata."""
    from packaging.requirements import Requirement

    pyproject = config.ROOT / "pyproject.toml"
    if config.IN_REPOSITORY and pyproject.exists():
        import tomllib

        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        unknown = extras - set(project.get("optional-dependencies", {}))
        if unknown:
            raise ValueError(f"extras: {sorted(unknown)} are not extras of {pyproject}")
        texts = list(project["dependencies"])
        for extra in sorted(extras):
            texts += project["optional-dependencies"][extra]
        return [Requirement(t) for t in texts]
    reqs = [Requirement(t) for t in md.requires("cnncourse") or []]
    return [r for r in reqs if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in extras | {""})]


def required(extras: set[str]) -> dict[str, md.Distribution]:
    """The installed distributions the course with ``extras`` needs, recursively, by canonical name.

    Raises
    ------
    ValueError
        If ``extras`` names no extra of the course, or a required package is not installed.
    """
    from packaging.requirements import Requirement

    have = installed()
    found: dict[str, md.Distribution] = {}
    todo, seen, missing = _project_requirements(set(extras)), set(), []
    while todo:
        req = todo.pop()
        name = canonical(req.name)
        if name in UNPINNED:
            continue
        if name not in have:
            missing.append(str(req))
            continue
        found[name] = have[name]
        for extra in {""} | set(req.extras):  # "": its own requirements; then those of each extra
            if (name, extra) not in seen:
                seen.add((name, extra))
                todo += [r for r in map(Requirement, have[name].requires or [])
                         if (r.marker is None and not extra) or (r.marker is not None and r.marker.evaluate({"extra": extra}))]
    if missing:
        raise ValueError(f"not installed, though the course needs them: {sorted(set(missing))} "
                         "(run `make install` first)")
    return found


def wheel_tags(dist: md.Distribution) -> list[str]:
    """The tags of the wheel ``dist`` was installed from (e.g. ``cp311-cp311-manylinux_2_17_x86_64``)."""
    text = dist.read_text("WHEEL") or ""
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]


def platform_marker() -> str:
    """The environment marker of this interpreter's Python version, OS and machine."""
    return (f'python_version == "{sys.version_info.major}.{sys.version_info.minor}" and '
            f'sys_platform == "{sys.platform}" and platform_machine == "{platform.machine()}"')


def _python_marker(requires_python: str | None) -> str | None:
    """A ``python_full_version`` marker for a Requires-Python that excludes some release of this
    Python's minor version (e.g. ``>=3.11.5``: Debian's 3.11.2 cannot install it), else None."""
    from packaging.specifiers import SpecifierSet

    if not requires_python:
        return None
    spec = SpecifierSet(requires_python)
    first = f"{sys.version_info.major}.{sys.version_info.minor}.0"
    if spec.contains(first):
        return None
    return "(" + " and ".join(f'python_full_version {s.operator} "{s.version}"' for s in spec) + ")"


def pins_text(extras: Sequence[str] = ("test", "instructor", "hub")) -> str:
    """The text of ``constraints.txt``: the installed versions of what the course needs with
    ``extras`` (the ones ``make install`` installs), recursively."""
    marker = platform_marker()
    lines = ["# Exact versions of the environment `make test` passed with; regenerate with `make pins`.",
             f"# Written by `cnncourse pins` on Python {platform.python_version()}, {sys.platform} "
             f"{platform.machine()}, for cnncourse[{','.join(extras)}]. Used by `make install` "
             "(pip install -c constraints.txt).",
             "# A package installed from a platform-specific wheel carries that platform's marker, one",
             "# that needs a later Python release (e.g. >=3.11.5) a python_full_version marker: on",
             "# another Python, OS or machine pip picks its version (untested there).", ""]
    for name, dist in sorted(required(set(extras)).items()):
        markers = [marker] if any(not t.endswith("-none-any") for t in wheel_tags(dist)) else []
        python = _python_marker(dist.metadata.get("Requires-Python"))
        if python:
            markers.append(python)
        lines.append(f"{name}=={dist.version}" + (f" ; {' and '.join(markers)}" if markers else ""))
    return "\n".join(lines) + "\n"


def read_constraints(path: Path) -> dict[str, str]:
    """The pins of ``path`` that apply to this interpreter, as ``{canonical name: version}``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Naming the file and line of an entry that is not ``name==version [; marker]``.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    path = Path(path)
    pins = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            raise ValueError(f"{path}:{number}: {raw!r} is not a pin: {exc}") from None
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            raise ValueError(f"{path}:{number}: {raw!r} is not an exact pin (name==version)")
        if req.marker is None or req.marker.evaluate():
            pins[canonical(req.name)] = specs[0].version
    return pins


def mismatches(pins: dict[str, str], versions: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """Installed versions that differ from ``pins``, and pinned packages that are not installed.

    ``versions`` (``{name: version}``, default: this environment's) is what is compared.
    """
    if versions is None:
        versions = {name: dist.version for name, dist in installed().items()}
    versions = {canonical(k): v for k, v in versions.items()}
    differ = [f"{name} {versions[name]} installed, {pins[name]} pinned"
              for name in sorted(pins) if name in versions and versions[name] != pins[name]]
    missing = sorted(name for name in pins if name not in versions)
    return differ, missing


def _git_commit() -> str:
    if not config.IN_REPOSITORY:
        return "not a checkout"
    try:
        head = subprocess.run(["git", "-C", str(config.ROOT), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=30)
        if head.returncode:
            return "no git repository"
        dirty = subprocess.run(["git", "-C", str(config.ROOT), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True, timeout=30)
        return head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return "git not available"


def report(constraints: Path | None = None) -> tuple[str, int]:
    """The block a learner pastes into a bug report, and the number of version mismatches.

    Lists the course version and commit, Python, OS, the :data:`KEY_PACKAGES`, the Keras backend,
    the device (and TensorFlow's oneDNN switch), the data files verified against
    ``data/SHA256SUMS``, and how the installed versions compare with ``constraints`` (default:
    the checkout's ``constraints.txt``).
    """
    from cnncourse import __version__, data

    constraints = Path(constraints) if constraints else DEFAULT_CONSTRAINTS
    pins = read_constraints(constraints) if constraints.exists() else None  # a bad file: fail first
    rows: list[tuple[str, str]] = []
    try:
        course = md.version("cnncourse")
    except md.PackageNotFoundError:
        course = f"{__version__} (not installed: imported from {config.ROOT})"
    rows += [("cnncourse", f"{course}, {'checkout' if config.IN_REPOSITORY else 'installed'} at {config.ROOT}"),
             ("git commit", _git_commit()),
             ("solutions", "present" if config.HAS_SOLUTIONS else "absent (learner install)"),
             ("mode", config.mode()),
             ("Python", f"{platform.python_version()} ({sys.executable})"),
             ("OS", f"{platform.platform()} {platform.machine()}")]
    for name in KEY_PACKAGES:
        try:
            rows.append((name, md.version(name)))
        except md.PackageNotFoundError:
            rows.append((name, "not installed"))
    try:
        from cnncourse import device

        keras = device.import_keras()
        rows += [("Keras backend", keras.backend.backend()), ("device", device.describe())]
    except Exception as exc:  # a broken TensorFlow is what the report is for
        rows.append(("device", f"TensorFlow failed to start: {type(exc).__name__}: {exc}"))
    rows.append(("oneDNN (TF_ENABLE_ONEDNN_OPTS)", os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")))
    bad = data.verify_all()
    try:
        n = len(data.manifest())
        rows.append(("data (SHA256SUMS)", f"{n - len(bad)}/{n} verified in {config.DATA_DIR}"))
    except Exception as exc:  # no manifest at all
        rows.append(("data (SHA256SUMS)", f"cannot read the manifest: {exc}"))
    for name, msg in bad:
        rows.append(("  bad data file", f"{name}: {msg}"))
    differ: list[str] = []
    if pins is not None:
        differ, missing = mismatches(pins)
        rows.append(("constraints", f"{constraints}: {len(pins)} pins, {len(differ)} differ, "
                                    f"{len(missing)} not installed"))
        rows += [("  differs", line) for line in differ]
        if missing:
            rows.append(("  not installed", ", ".join(missing)))
    else:
        rows.append(("constraints", f"{constraints} not found (pass --constraints FILE)"))
    width = max(len(label) for label, _ in rows)
    body = "\n".join(f"{label:<{width}}  {value}" for label, value in rows)
    return f"```text\ncnncourse doctor --report\n{body}\n```", len(differ)
