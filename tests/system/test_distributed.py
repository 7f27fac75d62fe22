"""Multi-worker training for real: two worker processes on 127.0.0.1 under
MultiWorkerMirroredStrategy end with identical weights and a lower loss."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnncourse.tools import distributed

ROOT = Path(__file__).resolve().parents[2]


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def test_two_workers_train_in_sync(tmp_path):
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    procs = []
    for i in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
               "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT),
               "TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                        "task": {"type": "worker", "index": i}})}
        cmd = [sys.executable, "-m", "cnncourse.tools.distributed", "--epochs", "4",
               "--steps-per-epoch", "4", "--samples", "32", "--size", "12",
               "--global-batch-size", "8", "--out", str(tmp_path / f"w{i}.npz")]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=150)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, "\n".join(out.splitlines()[-30:])
    a, b = (np.load(tmp_path / f"w{i}.npz") for i in range(2))
    names = [k for k in a.files if k.startswith("w")]
    assert names and sorted(names) == sorted(k for k in b.files if k.startswith("w"))
    for k in names:  # synchronous all-reduce: the two copies are the same model
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-6)
    assert a["loss"][-1] < a["loss"][0], a["loss"]
    assert "worker 0 of 2" in outputs[0] and "worker 1 of 2" in outputs[1]


def test_tf_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="TF_CONFIG is not set"):
        distributed.cluster_spec("")
    with pytest.raises(ValueError, match="malformed"):
        distributed.cluster_spec('{"cluster": {}}')
    with pytest.raises(ValueError, match="index 2 is outside the 2 workers"):
        distributed.cluster_spec(json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                             "task": {"type": "worker", "index": 2}}))
    assert distributed.cluster_spec(json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                                "task": {"type": "worker", "index": 1}})) == (2, 1)


def test_synthetic_volumes_are_deterministic_and_balanced():
    x, y = distributed.synthetic_volumes(10, 12, seed=3)
    x2, y2 = distributed.synthetic_volumes(10, 12, seed=3)
    assert x.shape == (10, 12, 12, 12, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(x, x2)
    assert y.sum() == 5
    with pytest.raises(ValueError, match="size"):
        distributed.synthetic_volumes(4, 4)
