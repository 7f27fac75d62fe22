"""Course tooling: the `cnncourse` command, the notebook runner, lesson generation, grading and
benchmarks. Teaching modules never import from here (tests/unit/test_layering.py)."""
