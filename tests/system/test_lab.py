"""`make lab` serves JupyterLab on localhost with a token, and the welcome lesson is listed."""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from cnncourse import config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_serves_the_course_on_localhost_with_a_token():
    port, token = _free_port(), secrets.token_hex(16)
    args = f"--no-browser --ServerApp.port={port} --IdentityProvider.token={token} --ServerApp.port_retries=0"
    proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"], cwd=config.ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{base}/api/contents/lessons?token={token}", timeout=2) as r:
                    listing = json.load(r)
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, f"make lab exited early:\n{proc.stdout.read()[-3000:]}"
                time.sleep(0.5)
        else:
            pytest.fail("make lab did not answer within 60 s")
        names = [item["name"] for item in listing["content"]]
        assert "00_welcome.ipynb" in names
        with pytest.raises(urllib.error.HTTPError) as no_token:  # the token is required
            urllib.request.urlopen(f"{base}/api/contents/lessons", timeout=5)
        assert no_token.value.code == 403
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
