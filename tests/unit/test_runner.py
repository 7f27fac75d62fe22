"""The notebook runner's kernel channel: a missed socket wake-up costs one slice, not the cell timeout."""
import asyncio
import time
from queue import Empty

import nbformat
import pytest

from cnncourse.tools import runner


class _MissedWakeUp:
    """A socket whose message is already there but whose poll only notices at its timeout's end,
    as pyzmq's asyncio poll does when it misses the socket's wake-up."""

    def __init__(self, has_message: bool):
        self.has_message = has_message
        self.polls = []

    async def poll(self, timeout_ms):
        self.polls.append(timeout_ms)
        await asyncio.sleep(timeout_ms / 1000)
        return int(self.has_message)


class _Channel(runner._SlicedChannel):
    def __init__(self, socket):   # no real zmq socket or session
        self.socket = socket

    async def _recv(self):
        return {"msg_type": "execute_reply"}


def test_a_missed_wake_up_costs_one_slice_not_the_timeout(monkeypatch):
    monkeypatch.setattr(runner, "POLL_SLICE", 0.05)
    channel = _Channel(_MissedWakeUp(has_message=True))
    start = time.monotonic()
    assert asyncio.run(channel.get_msg(timeout=600)) == {"msg_type": "execute_reply"}
    assert time.monotonic() - start < 5, "the reply waited for the whole timeout"
    assert channel.socket.polls == [50]


@pytest.mark.parametrize("timeout", [0.2, 0])
def test_no_message_still_ends_at_the_timeout(monkeypatch, timeout):
    monkeypatch.setattr(runner, "POLL_SLICE", 0.05)
    channel = _Channel(_MissedWakeUp(has_message=False))
    start = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(channel.get_msg(timeout=timeout))
    assert timeout <= time.monotonic() - start < timeout + 2
    assert all(ms <= 50 for ms in channel.socket.polls)


def test_notebook_client_runs_a_notebook(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os\nprint(6 * 7, os.getcwd())")])
    runner.notebook_client(nb, timeout=60, cwd=tmp_path).execute()
    assert nb.cells[0].outputs[0]["text"].split() == ["42", str(tmp_path)]


def test_timeline_says_where_a_slow_cell_spent_its_time(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("import time\ntime.sleep(1.5)")])
    timeline = runner.Timeline()
    runner.notebook_client(nb, timeout=60, cwd=tmp_path, **timeline.hooks()).execute()
    assert sorted(timeline.cells) == [0, 1]
    slow = [line for line in timeline.slow(nb, 1.0) if "in cell" in line]
    assert len(slow) == 1 and " s in cell 1; request -> kernel start " in slow[0], slow
    ran = float(slow[0].split("kernel ran ")[1].split(" s")[0])
    assert 1.4 <= ran < 10, slow        # the time was the kernel's, not a message's
    assert "'import time'" in slow[0]
    assert timeline.slow(nb, 30, end=timeline.cells[1][1]) == []


def test_the_kernel_manager_hands_out_the_sliced_client(tmp_path):
    """What the notebooks run with really waits in slices (a new ``client_class`` alone left
    jupyter_client's plain client in place: the sliced waits were never used before)."""
    client = runner.SlicedKernelManager().client()
    assert isinstance(client, runner._SlicedKernelClient)
    channels = (client.shell_channel, client.iopub_channel, client.stdin_channel,
                client.control_channel)
    assert all(isinstance(c, runner._SlicedChannel) for c in channels)
    seen = []
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbclient = runner.notebook_client(nb, timeout=60, cwd=tmp_path)
    nbclient.on_cell_execute = lambda **kw: seen.append(type(nbclient.kc.shell_channel))
    nbclient.execute()
    assert seen == [runner._SlicedChannel]
