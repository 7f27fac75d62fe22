"""A JupyterHub for a workshop room: ``cnncourse hub config``, ``cnncourse hub wheel``, and the
command each learner's server starts with.

The room (docs/room.md has the steps an instructor follows):

* the hub runs as root on the room's machine, from the course's own environment (``make hub``),
  behind ``configurable-http-proxy`` bound to 127.0.0.1 (put a TLS reverse proxy in front of it to
  open it to the room's network);
* learners log in as *system users* (PAM: their Unix name and password); each gets a single-user
  JupyterLab server running as that user (:class:`cnncourse.tools.hubspawner.CourseSpawner`, a
  ``LocalProcessSpawner``), started from a *learner environment* every user can execute (e.g.
  ``/opt/cnncourse/venv``, made by ``make hub-venv`` from a wheel without ``solutions/``);
* the server starts through :func:`singleuser_main`: it makes the learner's home private
  (mode 700, umask 077), puts a fresh copy of the lessons in ``~/cnncourse-lessons``
  (:func:`cnncourse.tools.lessons.copy_lessons`: a notebook the learner changed is kept), then runs
  ``jupyterhub-singleuser``;
* a memory limit per learner (the server and all its kernels together) is a memory cgroup the
  spawner creates when the hub can (cgroup v1 or v2 writable by root); LocalProcessSpawner's own
  ``mem_limit`` is only advisory, see :mod:`cnncourse.tools.hubspawner`.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from cnncourse import config

#: Folder of each learner's home that receives the lessons.
LESSONS_FOLDER = "cnncourse-lessons"
#: Memory per learner (the budgets issue: a lesson needs about 2 GiB).
DEFAULT_MEM = "2G"
#: Where ``make hub-venv`` puts the learner environment.
DEFAULT_LEARNER_VENV = Path("/opt/cnncourse/venv")
_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def parse_size(text: str, *, name: str = "mem") -> int:
    """Bytes in a size such as ``"2G"``, ``"512M"``, ``"1.5G"`` or ``"1073741824"`` (binary units).

    Raises
    ------
    ValueError
        Naming ``name`` when ``text`` is not such a size or is not positive.
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(f"{name}: {text!r} is not a size such as 2G, 512M or 1073741824")
    value = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if value <= 0:
        raise ValueError(f"{name}: {text!r} must be more than 0 bytes")
    return value


def unreachable_reason(path: Path) -> str | None:
    """Why another (unprivileged) user could not run the file (or list the folder) ``path``, or None.

    Every folder on the way to ``path`` and to what its symlinks point at must be searchable by
    others (``o+x``), and the file itself readable and executable by them. This reads mode bits
    only; :func:`check_learner_python` runs the interpreter as ``nobody`` to be sure.
    """
    path = Path(path).absolute()
    if not path.exists():
        return f"{path} does not exist"
    for candidate in (path, path.resolve()):
        for folder in reversed(candidate.parents):
            if not folder.stat().st_mode & 0o001:
                return f"{folder} is not searchable by other users (mode {folder.stat().st_mode & 0o777:o})"
    mode = path.resolve().stat().st_mode
    if mode & 0o005 != 0o005:
        return f"{path.resolve()} is not readable and executable by other users (mode {mode & 0o777:o})"
    return None


def check_learner_python(python: Path) -> str | None:
    """Run ``python`` as the unprivileged user ``nobody`` and import what a learner's server needs.

    Returns None when it works, else what went wrong. Without root (or without a ``nobody`` user)
    only the mode bits are checked (:func:`unreachable_reason`).
    """
    reason = unreachable_reason(python)
    if reason or os.geteuid() != 0:
        return reason
    try:
        import pwd

        nobody = pwd.getpwnam("nobody")
    except KeyError:
        return None
    code = "import jupyterhub.singleuser, jupyterlab, cnncourse.tools.hub, cnncourse.tools.lessons"
    proc = subprocess.run([str(python), "-c", code], user=nobody.pw_uid, group=nobody.pw_gid,
                          extra_groups=[], cwd="/", env={"PATH": "/usr/bin:/bin", "HOME": "/"},
                          capture_output=True, text=True, timeout=120)
    if proc.returncode:
        return f"{python} run as nobody cannot import what a learner's server needs:\n{proc.stderr[-2000:]}"
    return None


_TEMPLATE = '''\
# jupyterhub_config.py for a cnncourse room, written by `cnncourse hub config` (cnncourse {version}).
# Start it as root (PAM logins and servers run as each learner need it):
#     jupyterhub -f {out}
# It listens on 127.0.0.1 only; put a TLS reverse proxy in front of it to open it to the room.
c = get_config()  # noqa: F821 (JupyterHub provides it)

STATE = {state!r}   # the hub's database, cookie secret and proxy pid file
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.pid_file = STATE + "/jupyterhub-proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + STATE + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = STATE + "/jupyterhub_cookie_secret"
c.JupyterHub.cleanup_servers = True      # stopping the hub stops the learners' servers

# Who logs in: these system users, with their Unix password (PAM). Create them with
# `useradd -m NAME` and `chpasswd`; root can never log in.
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = {users!r}
c.Authenticator.blocked_users = {{"root"}}
c.PAMAuthenticator.open_sessions = False  # no logind in a container; nothing needs a PAM session

# Each learner's server runs as that user, from the learner environment below. Its start command
# makes the home private (mode 700, umask 077) and copies fresh lessons into ~/{lessons} (a
# notebook the learner changed is kept), then runs jupyterhub-singleuser.
LEARNER_PYTHON = {python!r}
c.JupyterHub.spawner_class = "cnncourse.tools.hubspawner.CourseSpawner"
c.Spawner.cmd = [LEARNER_PYTHON, "-m", "cnncourse.tools.hub", "singleuser", "--lessons", {lessons!r}, "--"]
c.Spawner.ip = "127.0.0.1"
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = "/lab/tree/{lessons}/00_welcome.ipynb"
c.Spawner.env_keep = ["LANG", "LC_ALL"]   # not PYTHONPATH: learners import only their environment
c.Spawner.environment = {environment!r}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120

# Memory per learner, the server and every kernel it starts together. LocalProcessSpawner does not
# enforce mem_limit; CourseSpawner puts each server in a memory cgroup of this size when the hub
# can create one (cgroup v1 or v2 writable by root) and logs a warning when it cannot.
c.Spawner.mem_limit = {mem!r}
c.CourseSpawner.memory_cgroup = {cgroup!r}
'''


def write_config(out: Path, *, users: Sequence[str], python: Path, mem: str = DEFAULT_MEM,
                 port: int = 8000, hub_port: int = 8081, api_port: int = 8001,
                 state: Path | None = None, lessons: str = LESSONS_FOLDER,
                 environment: dict[str, str] | None = None, cgroup: str = "auto",
                 check_python: bool = True) -> Path:
    """Write a ``jupyterhub_config.py`` for a room to ``out`` and return its path.

    Parameters
    ----------
    out : Path
        File to write (its folder is created).
    users : sequence of str
        System user names allowed to log in (at least one; root is refused).
    python : Path
        Interpreter of the learner environment (jupyterhub, jupyterlab and cnncourse installed),
        which every learner must be able to run (checked unless ``check_python`` is False).
    mem : str
        Memory per learner, e.g. ``"2G"``.
    port, hub_port, api_port : int
        The public port (the proxy), the hub's own port and the proxy's API port, on 127.0.0.1.
    state : Path, optional
        Folder for the hub's database, cookie secret and proxy pid file (default: ``out``'s folder).
    lessons : str
        Folder of each home that receives the lessons.
    environment : dict, optional
        Extra environment variables of the learners' servers (e.g. ``{"CNNCOURSE_FAST": "1"}``).
    cgroup : {"auto", "required", "off"}
        Memory cgroup per learner: when possible, always (a server does not start without one),
        or never.

    Raises
    ------
    ValueError
        Naming the argument: no users, a bad user name or root, a bad size, port or cgroup value,
        or a ``python`` learners cannot run.
    """
    users = [u.strip() for u in users if u.strip()]
    if not users:
        raise ValueError("users: name the learners who may log in, e.g. --users ana,ben")
    bad = [u for u in users if not _USER.match(u) or u == "root"]
    if bad:
        raise ValueError(f"users: {bad} are not allowed learner names (lowercase Unix names, not root)")
    parse_size(mem, name="mem")
    ports = {"port": port, "hub_port": hub_port, "api_port": api_port}
    for name, value in ports.items():
        if not (isinstance(value, int) and 0 < value < 65536):
            raise ValueError(f"{name}: {value!r} is not a TCP port")
    if len(set(ports.values())) != 3:
        raise ValueError(f"port, hub_port, api_port must differ: {ports}")
    if cgroup not in ("auto", "required", "off"):
        raise ValueError(f"cgroup: {cgroup!r} is not one of auto, required, off")
    if not lessons or "/" in lessons or lessons.startswith("."):
        raise ValueError(f"lessons: {lessons!r} must be a plain folder name")
    python = Path(python).absolute()
    if check_python:
        reason = check_learner_python(python)
        if reason:
            raise ValueError(f"python: learners cannot use it: {reason}")
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    state = Path(state).absolute() if state else out.parent
    state.mkdir(parents=True, exist_ok=True)
    env = {"PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2",
           **(environment or {})}
    from cnncourse import __version__

    out.write_text(_TEMPLATE.format(version=__version__, out=out, state=str(state), users=sorted(users),
                                    python=str(python), lessons=lessons, environment=env, mem=mem,
                                    cgroup=cgroup, **ports), encoding="utf-8")
    return out


def singleuser_main(argv: Sequence[str]) -> None:
    """Start a learner's server (the hub's spawn command; runs as the learner, in their home).

    ``argv`` is ``[--lessons FOLDER] -- ARGS``: the home becomes private (mode 700, when the
    learner owns it) and new files private too (umask 077), fresh lessons go
    into ``~/FOLDER`` (a notebook already there and changed is kept), then
    ``jupyterhub-singleuser ARGS`` runs in this process.
    """
    import argparse

    argv = list(argv)
    rest = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(prog="cnncourse.tools.hub singleuser")
    parser.add_argument("--lessons", default=LESSONS_FOLDER)
    args = parser.parse_args(own)
    from cnncourse.tools import lessons

    home = Path.home()
    os.umask(0o077)
    if home.stat().st_uid == os.getuid():
        home.chmod(0o700)
    report = lessons.copy_lessons(home / args.lessons)
    print(f"cnncourse: lessons in {home / args.lessons}: {len(report.copied)} copied, "
          f"{len(report.unchanged)} up to date, {len(report.kept)} changed by the learner and kept",
          file=sys.stderr, flush=True)
    import runpy

    sys.argv = ["jupyterhub-singleuser", *rest]
    runpy.run_module("jupyterhub.singleuser", run_name="__main__", alter_sys=True)


def build_learner_wheel(out: Path) -> Path:
    """Build the learners' wheel, ``cnncourse-<version>+learner``: the course without ``solutions/``.

    The wheel is built from a copy of the checkout with ``solutions/`` left out and pyproject.toml's
    three lines that map it into the package removed; installed, the course runs from its lessons
    (``config.HAS_SOLUTIONS`` is False). Returns the wheel's path in ``out``.

    Raises
    ------
    RuntimeError
        Outside a checkout, or when pyproject.toml no longer has the lines this removes.
    """
    if not config.IN_REPOSITORY:
        raise RuntimeError("the learner wheel is built from a clone of the course")
    import tempfile

    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source"
        shutil.copytree(config.ROOT, source, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "artifacts", ".*cache",
            ".hypothesis", ".ipynb_checkpoints", "solutions", "hub-state"))
        pyproject = source / "pyproject.toml"
        text = pyproject.read_text(encoding="utf-8").replace(', "cnncourse._course.solutions"', "", 1)
        text = "".join(ln for ln in text.splitlines(keepends=True)
                       if not ln.startswith('"cnncourse._course.solutions" = '))
        if "_course.solutions" in text:
            raise RuntimeError("pyproject.toml: the lines mapping solutions/ into the wheel changed; "
                               "update cnncourse.tools.hub.build_learner_wheel")
        version = re.search(r'^version = "([^"]+)"', text, re.M)
        if not version:
            raise RuntimeError("pyproject.toml: no version line")
        text = text.replace(version.group(0), f'version = "{version.group(1)}+learner"', 1)
        pyproject.write_text(text, encoding="utf-8")
        for old in out.glob(f"cnncourse-{version.group(1)}+learner-*.whl"):
            old.unlink()
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out),
                        str(source)], check=True)
    (wheel,) = out.glob(f"cnncourse-{version.group(1)}+learner-*.whl")
    return wheel


if __name__ == "__main__":
    if sys.argv[1:2] != ["singleuser"]:
        sys.exit("usage: python -m cnncourse.tools.hub singleuser [--lessons FOLDER] -- ARGS "
                 "(the hub's spawn command; `cnncourse hub config` writes it)")
    singleuser_main(sys.argv[2:])
