"""The room's spawner: JupyterHub's ``LocalProcessSpawner`` plus a memory cgroup per learner.

``LocalProcessSpawner`` runs each learner's server as that system user but does not enforce
``mem_limit`` (JupyterHub only passes it to the server as ``MEM_LIMIT``, which JupyterLab's
resource display may show). A per-process ``RLIMIT_AS`` is no substitute: it limits each process
separately (the server and every kernel), and counts address space, not memory: a Python process
that has imported TensorFlow maps over 2 GiB while using far less.

:class:`CourseSpawner` therefore makes a memory cgroup ``cnncourse-hub/<user>`` of ``mem_limit``
bytes (swap included where the kernel accounts it) beside the hub's own cgroup, and the server
process joins it between fork and exec, while still root; the kernels it starts inherit it. The
limit is the sum over the learner's processes: past it the kernel's OOM killer ends the largest
(usually the kernel running the notebook, which JupyterLab reports as "kernel died"), and the
other learners are unaffected. It works with cgroup v2 (``memory.max``) or v1
(``memory.limit_in_bytes``), when the hub runs as root and the cgroup filesystem is writable; with
``memory_cgroup = "auto"`` it logs a warning and starts the server unlimited otherwise,
``"required"`` refuses to start it.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Unicode

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP = "cnncourse-hub"
REMOVE_TRIES = 20  # half-second tries to remove a stopped learner's cgroup


def _own_cgroup(controller: str | None) -> str:
    """This process's cgroup path (v2: ``controller=None``; v1: the hierarchy with ``controller``)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (controller is None and controllers == "") or (controller in controllers.split(",")):
            return path.lstrip("/")
    raise OSError(f"/proc/self/cgroup names no {'v2' if controller is None else controller} cgroup")


def memory_cgroup(user: str, limit: int) -> tuple[Path, str]:
    """Create (or reuse) the memory cgroup of ``user``, limited to ``limit`` bytes.

    Returns the cgroup's folder and a description (``"cgroup v2 memory.max=..."``).

    Raises
    ------
    OSError
        When no memory controller is usable (not root, read-only or absent cgroup filesystem).
    """
    if (CGROUP_ROOT / "cgroup.controllers").exists():  # unified (v2) hierarchy
        parent = CGROUP_ROOT / _own_cgroup(None)
        # a v2 cgroup with processes cannot delegate controllers: hang the room beside the hub
        busy = parent != CGROUP_ROOT and (parent / "cgroup.procs").read_text().strip()
        base = parent.parent if busy else parent
        if "memory" not in (base / "cgroup.controllers").read_text().split():
            raise OSError(f"{base}: the memory controller is not available")
        for folder in (base, base / GROUP):
            folder.mkdir(exist_ok=True)
            if "memory" not in (folder / "cgroup.subtree_control").read_text().split():
                (folder / "cgroup.subtree_control").write_text("+memory")
        group = base / GROUP / user
        group.mkdir(exist_ok=True)
        (group / "memory.max").write_text(str(limit))
        if (group / "memory.swap.max").exists():
            (group / "memory.swap.max").write_text("0")
        return group, f"cgroup v2 {group}/memory.max={limit}"
    hierarchy = CGROUP_ROOT / "memory"
    if not (hierarchy / "memory.limit_in_bytes").exists():
        raise OSError(f"no cgroup v2 at {CGROUP_ROOT} and no cgroup v1 memory hierarchy at {hierarchy}")
    group = hierarchy / _own_cgroup("memory") / GROUP / user
    group.mkdir(parents=True, exist_ok=True)
    (group / "memory.limit_in_bytes").write_text(str(limit))
    swap = group / "memory.memsw.limit_in_bytes"
    if swap.exists():  # memory + swap: the same cap (no swapping past the limit)
        swap.write_text(str(limit))
    return group, f"cgroup v1 {group}/memory.limit_in_bytes={limit}"


class CourseSpawner(LocalProcessSpawner):
    """``LocalProcessSpawner`` whose servers run in a per-learner memory cgroup of ``mem_limit``."""

    memory_cgroup = Unicode("auto", config=True, help=(
        "auto: put each server in a memory cgroup of mem_limit bytes when the hub can create one, "
        "else warn and start it unlimited; required: refuse to start without one; off: never."))

    _cgroup: Path | None = None

    def make_preexec_fn(self, name):
        become_user = super().make_preexec_fn(name)
        procs = self._cgroup / "cgroup.procs" if self._cgroup else None

        def preexec():  # after fork, before exec, still root: join the cgroup, then become the user
            if procs is not None:
                with open(procs, "w") as f:
                    f.write(str(os.getpid()))
            become_user()

        return preexec

    async def start(self):
        self._cgroup = None
        if self.memory_cgroup != "off" and self.mem_limit:
            try:
                self._cgroup, how = memory_cgroup(self.user.name, int(self.mem_limit))
                self.log.info("memory limit of %s: %s (the server and its kernels together)",
                              self.user.name, how)
            except OSError as exc:
                if self.memory_cgroup == "required":
                    raise RuntimeError(f"no memory cgroup for {self.user.name}: {exc}") from exc
                self.log.warning("memory limit of %s NOT enforced (mem_limit is advisory with "
                                 "LocalProcessSpawner and no memory cgroup could be made: %s)",
                                 self.user.name, exc)
        return await super().start()

    async def stop(self, now=False):
        await super().stop(now=now)
        if self._cgroup is not None:
            for attempt in range(REMOVE_TRIES):  # the server's kernels may take a moment to exit
                try:
                    self._cgroup.rmdir()
                    break
                except OSError as exc:  # busy: processes still in it
                    if attempt == REMOVE_TRIES - 1:  # the next start reuses the folder
                        self.log.warning("could not remove %s: %s", self._cgroup, exc)
                    await asyncio.sleep(0.5)
            self._cgroup = None
