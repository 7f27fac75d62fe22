"""The ``cnncourse`` command: ``lessons build|copy``, ``grading setup|report``, ``doctor [--report]``,
``run``, ``book``, ``slides``, ``bench``, ``hub config|wheel`` and ``pins``.

Every command works from any folder, in a clone or from an installed wheel (the course files are
found through :mod:`cnncourse.config`).
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import platform
import sys
from pathlib import Path

from cnncourse import config


def _lessons(args) -> int:
    from cnncourse.tools import lessons

    if args.action == "copy":
        return _lessons_copy(args, lessons)
    if args.dir or args.force or args.names:
        print("DIR, --force and --only go with `lessons copy`", file=sys.stderr)
        return 2
    if not config.IN_REPOSITORY and not args.check:
        print("`lessons build` rewrites the course's own notebooks: run it in a clone of the course "
              f"(this cnncourse is installed in {config.ROOT})", file=sys.stderr)
        return 2
    report = lessons.build(check=args.check)
    for path in report.stripped:
        print(f"rewrote {path} (outputs stripped, nbgrader metadata from the markers)")
    for path in report.written:
        print(f"wrote {path}")
    if args.check:
        if report.stale:
            print("lessons/ is not in sync with solutions/:", file=sys.stderr)
            for line in report.stale:
                print(f"  {line}", file=sys.stderr)
            return 1
        print("lessons/ is in sync with solutions/")
    elif not report.written and not report.stripped:
        print("lessons/ already up to date")
    return 0


def _lessons_copy(args, lessons) -> int:
    if args.check:
        print("--check goes with `lessons build`", file=sys.stderr)
        return 2
    dest = Path(args.dir or "cnncourse-lessons")
    try:
        report = lessons.copy_lessons(dest, force=args.force, names=args.names)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    for path in report.copied:
        print(f"copied {path}")
    for path in report.kept:
        print(f"kept   {path} (edited; --force overwrites it)")
    print(f"{len(report.copied)} copied, {len(report.unchanged)} already up to date, "
          f"{len(report.kept)} edited and kept, in {dest.resolve()}")
    return 0


def _grading(args) -> int:
    from cnncourse.tools import grading

    if args.action == "report":
        lines = grading.report(Path(args.dir))
        print("\n".join(lines) if lines else f"no autograded notebooks under {args.dir}/autograded")
        return 0
    try:
        written = grading.setup_course(Path(args.dir), args.names)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(f"nbgrader course folder ready: cd {args.dir} && nbgrader generate_assignment --all")
    return 0


def _widget_extension_installed() -> bool:
    from jupyter_core.paths import jupyter_path

    return any((Path(p) / "@jupyter-widgets" / "jupyterlab-manager" / "package.json").exists()
               for p in jupyter_path("labextensions"))


def _doctor(args) -> int:
    if args.report:
        from cnncourse.tools import environment

        try:
            block, _ = environment.report(args.constraints)
        except (OSError, ValueError) as exc:
            print(f"--constraints: {exc}", file=sys.stderr)
            return 2
        print(block)
        return 0
    if args.constraints:
        print("--constraints goes with --report", file=sys.stderr)
        return 2
    problems = []

    def line(label, value, ok=True, fix=""):
        print(f"  {'ok ' if ok else 'BAD'}  {label:<28} {value}")
        if not ok:
            problems.append(f"{label}: {fix}")

    print("cnncourse doctor")
    py_ok = sys.version_info >= (3, 10)
    line("Python", platform.python_version(), py_ok, "use Python 3.10 or newer")
    for dist, minimum in [("tensorflow", None), ("keras", "3"), ("numpy", None), ("jupyterlab", "4"),
                          ("ipywidgets", "8"), ("matplotlib", None), ("scikit-image", None),
                          ("scikit-learn", None)]:
        try:
            version = md.version(dist)
            ok = minimum is None or int(version.split(".")[0]) >= int(minimum)
            line(dist, version, ok, f"needs {dist}>={minimum}: {_install_hint()}")
        except md.PackageNotFoundError:
            line(dist, "not installed", False, _install_hint())
    widgets = _widget_extension_installed()
    line("JupyterLab widget extension", "installed" if widgets else "missing", widgets,
         "sliders would show as text: pip install --force-reinstall jupyterlab_widgets "
         "in the environment that runs `jupyter lab`")
    try:
        from cnncourse import device

        keras = device.import_keras()
        line("device", device.describe())
        line("Keras backend", keras.backend.backend())
    except Exception as exc:  # TensorFlow itself broken
        line("device", f"TensorFlow failed to start: {exc}", False, "reinstall tensorflow")
    from cnncourse import data

    bad = data.verify_all()
    n = len(data.manifest()) if not any(name == data.MANIFEST for name, _ in bad) else 0
    line("data files", f"{n - len(bad)}/{n} verified in {config.DATA_DIR}", not bad,
         "; ".join(msg for _, msg in bad))
    where = "repository checkout" if config.IN_REPOSITORY else "installed package"
    line("course files", f"{config.ROOT} ({where})")
    line("solutions", "present" if config.HAS_SOLUTIONS else "absent (a learner install: lessons only)")
    line("mode", f"{config.mode()} (CNNCOURSE_FAST={'1' if config.FAST else 'unset'})")
    if problems:
        print("\nProblems found:")
        for p in problems:
            print(f"  - {p}")
        return 1
    if config.IN_REPOSITORY:
        print("\nAll good: `make lab` to start the course.")
    else:
        print("\nAll good: `cnncourse lessons copy DIR`, then `jupyter lab DIR` to start the course.")
    return 0


def _install_hint() -> str:
    return ("run `make install` (or pip install -e .)" if config.IN_REPOSITORY
            else "run `pip install --upgrade cnncourse`")


def _run(args) -> int:
    from cnncourse.tools import runner

    if args.markdown:
        try:
            print(runner.markdown(json.loads(Path(args.markdown).read_text(encoding="utf-8"))))
        except (OSError, ValueError) as exc:
            print(f"--markdown {args.markdown}: {exc}", file=sys.stderr)
            return 2
        return 0
    folder = config.LESSONS_DIR if args.lessons or not config.HAS_SOLUTIONS else config.SOLUTIONS_DIR
    if not args.lessons and not args.notebooks and not config.HAS_SOLUTIONS:
        print("no solutions/ in this install (a learner install): running the lessons")
    paths = [Path(p) for p in args.notebooks] or sorted(folder.glob("*.ipynb"))
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"no such notebook: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    results = runner.run(paths, timeout=args.timeout, json_path=args.json, keep=args.keep)
    return 1 if any(r.error for r in results) else 0


def _book(args) -> int:
    try:
        from cnncourse.tools import book
    except ImportError as exc:   # sphinx / myst-nb / furo: the `book` extra
        print(f"`cnncourse book` needs the book extra ({exc}): pip install -e '.[book]' "
              "(`make install` installs it)", file=sys.stderr)
        return 2
    import time

    start = time.perf_counter()
    try:
        report = book.build([Path(p) for p in args.notebooks] or None, executed=args.executed,
                            out=args.out, run_missing=not args.no_run, timeout=args.timeout)
    except (book.BookError, FileNotFoundError) as exc:
        print(f"cnncourse book: {exc}", file=sys.stderr)
        return 1
    outside = book.external_references(report.site)
    for line in outside:
        print(f"requests another host: {line}", file=sys.stderr)
    size = book.tree_size(report.site) / 2**20
    print(f"built {len(report.pages)} notebook pages ({report.mode}-mode outputs; ran "
          f"{len(report.ran)} now) in {time.perf_counter() - start:.0f} s: "
          f"{report.site / 'index.html'} ({size:.0f} MiB); publish the folder on any static host")
    return 1 if outside else 0


def _slides(args) -> int:
    from cnncourse.tools import slides

    if args.executed and len(args.notebooks) != 1:
        print("--executed goes with exactly one notebook", file=sys.stderr)
        return 2
    paths = [_solution_path(n) for n in args.notebooks] or sorted(config.SOLUTIONS_DIR.glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    decks, failed = [], []
    for i, path in enumerate(paths, 1):
        print(f"[{i}/{len(paths)}] {path.name}: "
              + ("from " + args.executed if args.executed else
                 f"executing ({'full' if args.full else 'fast'} mode)"), file=sys.stderr, flush=True)
        try:
            deck = slides.make_deck(path, out, executed=args.executed and Path(args.executed),
                                    fast=not args.full, timeout=args.timeout)
        except (slides.SlidesError, FileNotFoundError, ValueError) as exc:
            print(exc, file=sys.stderr)
            failed.append(path.name)
            continue
        if args.plan:
            print(slides.format_plan(deck.plan))
        print(f"wrote {deck.path} ({deck.slides} slides, {deck.subslides} subslides)")
        decks.append(deck)
    if decks:
        first = decks[0].path
        if len(paths) > 1:
            first = slides.write_index(out, decks)
            print(f"wrote {first}")
        print(f"open {first.resolve()} in a browser (offline; 's' opens the speaker notes with "
              "the exercise answers)")
    if failed:
        print(f"no deck for {len(failed)} notebook(s): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _solution_path(name: str) -> Path:
    """A notebook given as a path, a file name or a stem of solutions/ (e.g. ``06`` or ``06_lenet``)."""
    path = Path(name)
    if path.exists():
        return path
    matches = sorted(config.SOLUTIONS_DIR.glob(f"{path.stem}*.ipynb"))
    return matches[0] if len(matches) == 1 else path


def _bench(args) -> int:
    from cnncourse import device
    from cnncourse.tools import bench

    if args.onednn and not device.use_onednn():
        print("--onednn: TF_ENABLE_ONEDNN_OPTS is set to something else; unset it", file=sys.stderr)
        return 2
    bench.run(args.name)
    return 0


def _hub(args) -> int:
    from cnncourse.tools import hub

    if args.action == "wheel":
        try:
            wheel = hub.build_learner_wheel(Path(args.out or "build"))
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(f"wrote {wheel} (no solutions/): install it in the learners' environment")
        return 0
    python = Path(args.python) if args.python else (
        hub.DEFAULT_LEARNER_VENV / "bin" / "python" if (hub.DEFAULT_LEARNER_VENV / "bin" / "python").exists()
        else Path(sys.executable))
    environment = {}
    for item in args.env or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"--env: {item!r} is not NAME=VALUE", file=sys.stderr)
            return 2
        environment[key] = value
    try:
        out = hub.write_config(Path(args.out or "jupyterhub_config.py"), users=(args.users or "").split(","),
                               python=python, mem=args.mem, port=args.port, hub_port=args.hub_port,
                               api_port=args.api_port, state=Path(args.state) if args.state else None,
                               environment=environment, cgroup=args.cgroup)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"wrote {out}: learners {args.users} log in at http://127.0.0.1:{args.port}/ "
          f"(their servers run {python}, {args.mem} each); start it as root: jupyterhub -f {out}")
    return 0


def _pins(args) -> int:
    from cnncourse.tools import environment

    try:
        text = environment.pins_text([e for e in args.extras.split(",") if e])
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}: {sum(1 for ln in text.splitlines() if '==' in ln)} pins")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cnncourse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("lessons", help="build: generate lessons/ from solutions/; "
                                          "copy: put fresh lessons in a working folder")
    p.add_argument("action", choices=["build", "copy"])
    p.add_argument("dir", nargs="?", help="copy: folder to copy into (default ./cnncourse-lessons)")
    p.add_argument("--check", action="store_true", help="build: write nothing; exit 1 if lessons/ is stale")
    p.add_argument("--force", action="store_true", help="copy: overwrite notebooks edited there")
    p.add_argument("--only", dest="names", nargs="+", metavar="NOTEBOOK",
                   help="copy: only these notebooks (e.g. 01_perceptron_nand)")
    p.set_defaults(func=_lessons)

    p = sub.add_parser("grading", help="setup: write an nbgrader course folder (needs "
                                          "cnncourse[instructor]); report: what autograding found")
    p.add_argument("action", choices=["setup", "report"])
    p.add_argument("dir", help="the nbgrader course folder (setup writes nbgrader_config.py, "
                               "source/; report reads autograded/)")
    p.add_argument("--only", dest="names", nargs="+", metavar="NOTEBOOK",
                   help="only these notebooks (default: all)")
    p.set_defaults(func=_grading)

    p = sub.add_parser("doctor", help="check the environment, the widget extension and the data")
    p.add_argument("--report", action="store_true",
                   help="print a block to paste into a bug report (versions, device, data, pins)")
    p.add_argument("--constraints", metavar="FILE",
                   help="--report: compare with this constraints file (default: the checkout's)")
    p.set_defaults(func=_doctor)

    from cnncourse.tools import hub

    p = sub.add_parser("hub", help="config: write a room's jupyterhub_config.py; "
                                      "wheel: build the learners' wheel (no solutions/)")
    p.add_argument("action", choices=["config", "wheel"])
    p.add_argument("--out", help="config: file to write (default jupyterhub_config.py); "
                                 "wheel: folder (default build)")
    p.add_argument("--users", help="config: learners allowed to log in (system users), e.g. ana,ben")
    p.add_argument("--mem", default=hub.DEFAULT_MEM, help="config: memory per learner (default 2G)")
    p.add_argument("--port", type=int, default=8000, help="config: public port on 127.0.0.1")
    p.add_argument("--hub-port", type=int, default=8081, help="config: the hub's own port")
    p.add_argument("--api-port", type=int, default=8001, help="config: the proxy's API port")
    p.add_argument("--python", help="config: the learner environment's python (default "
                                    f"{hub.DEFAULT_LEARNER_VENV}/bin/python if present, else this one)")
    p.add_argument("--state", help="config: folder of the hub's database and secrets "
                                   "(default: the config's folder)")
    p.add_argument("--env", action="append", metavar="NAME=VALUE",
                   help="config: an environment variable of the learners' servers (repeatable)")
    p.add_argument("--cgroup", default="auto", choices=["auto", "required", "off"],
                   help="config: memory cgroup per learner (default auto: when the hub can)")
    p.set_defaults(func=_hub)

    p = sub.add_parser("pins", help="write constraints.txt: the exact versions installed here")
    p.add_argument("--out", default=str(config.ROOT / "constraints.txt"), help="file, or - for stdout")
    p.add_argument("--extras", default="test,instructor,hub",
                   help="the course's extras whose requirements are pinned (as `make install` installs)")
    p.set_defaults(func=_pins)

    p = sub.add_parser("run", help="execute notebooks headlessly with a timing table")
    p.add_argument("notebooks", nargs="*", help="notebooks to run (default: all of solutions/)")
    p.add_argument("--lessons", action="store_true", help="run lessons/ instead of solutions/")
    p.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="write each executed notebook (with its outputs) into DIR, for `cnncourse book`")
    p.add_argument("--json", metavar="FILE",
                   help="also write the table (seconds, CPU seconds, peak memory, total) as JSON")
    p.add_argument("--markdown", metavar="FILE",
                   help="run nothing: print the table a --json run wrote as Markdown (README)")
    p.set_defaults(func=_run)

    p = sub.add_parser("book", help="build the course's static website from executed solutions")
    p.add_argument("notebooks", nargs="*", help="solutions to put in the book (default: all)")
    p.add_argument("--executed", type=Path, default=config.ROOT / "build" / "executed",
                   metavar="DIR", help="executed copies from `cnncourse run --keep DIR`; missing "
                   "or stale ones are run into it first (default build/executed)")
    p.add_argument("--out", type=Path, default=config.ROOT / "build" / "book", metavar="DIR",
                   help="where the site goes (default build/book; sources in DIR.src)")
    p.add_argument("--no-run", action="store_true",
                   help="fail instead of running notebooks whose executed copy is missing or stale")
    p.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell when running")
    p.set_defaults(func=_book)

    p = sub.add_parser("slides", help="reveal.js decks of solution notebooks, offline "
                                      "(needs cnncourse[slides])")
    p.add_argument("notebooks", nargs="*", metavar="NB",
                   help="notebooks: paths or names in solutions/, e.g. 06 or 06_lenet (default: all)")
    p.add_argument("--out", default="slides", help="folder for the decks and their assets (default ./slides)")
    p.add_argument("--executed", metavar="PATH",
                   help="an executed copy of the one notebook given: used instead of running it")
    p.add_argument("--full", action="store_true", help="execute in full mode (default: fast mode)")
    p.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    p.add_argument("--plan", action="store_true", help="print each cell's slide type and why")
    p.set_defaults(func=_slides)

    from cnncourse.tools import bench

    p = sub.add_parser("bench", help="speed benchmarks, printed as tables")
    p.add_argument("name", help=f"one of: all, {', '.join(sorted(bench.BENCHMARKS)) or '(none yet)'}")
    p.add_argument("--onednn", action="store_true",
                   help="TensorFlow with oneDNN's CPU kernels (as notebooks 10, 12 and 13 use): "
                        "the faster dense baseline on CPUs where it is off by default")
    p.set_defaults(func=_bench)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
