"""Shared helpers for the hlab kernel tests: start a kernel, wait for
messages with timeouts (never sleeps), collect a cell's IOPub output."""

from __future__ import annotations

import os
import queue
import time

import pytest
from jupyter_client.manager import KernelManager

KERNEL = os.environ.get("HLAB_KERNEL_NAME", "hlab")
TIMEOUT = 30


class Kernel:
    """A running hlab kernel with a blocking client."""

    def __init__(self, tmp_path):
        self.stderr_path = tmp_path / "kernel-stderr.txt"
        self._stderr = open(self.stderr_path, "w")
        self.km = KernelManager(kernel_name=KERNEL)
        self.km.start_kernel(stderr=self._stderr)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=TIMEOUT)

    def stop(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)
        self._stderr.close()

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text()

    def iopub_until_idle(self, msg_id: str, timeout: float = TIMEOUT) -> list[dict]:
        """IOPub messages whose parent is msg_id, up to its idle status."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no idle for {msg_id} within {timeout} s; got {out}"
            msg = self.kc.get_iopub_msg(timeout=left)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            out.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return out

    def shell_reply(self, msg_id: str, timeout: float = TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no reply to {msg_id} within {timeout} s"
            msg = self.kc.get_shell_msg(timeout=left)
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    def execute(self, code: str, timeout: float = TIMEOUT) -> tuple[dict, list[dict]]:
        msg_id = self.kc.execute(code)
        reply = self.shell_reply(msg_id, timeout)
        return reply, self.iopub_until_idle(msg_id, timeout)

    def no_message(self, channel, seconds: float) -> dict | None:
        """The first message on channel within `seconds`, or None."""
        try:
            return channel.get_msg(timeout=seconds)
        except queue.Empty:
            return None


def text_result(outputs: list[dict]) -> str | None:
    for m in outputs:
        if m["msg_type"] == "execute_result":
            return m["content"]["data"]["text/plain"]
    return None


@pytest.fixture
def kernel(tmp_path):
    k = Kernel(tmp_path)
    yield k
    k.stop()
